"""Uploaded images are never stored as sent: they are decoded with Pillow, checked,
and re-encoded, which drops metadata (EXIF/GPS) and anything smuggled in the file."""
import io
import warnings

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DomainError

ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
MAX_PIXELS = 40_000_000  # ~ 8000 x 5000; anything larger is treated as a decompression bomb
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class InvalidImage(DomainError):
    message = _l("Please upload a JPEG, PNG, GIF or WebP image.")


def reencode_image(stream, *, max_bytes: int, box: tuple[int, int], square: bool = False) -> bytes:
    """Read an uploaded image, validate it and return it as WebP bytes.

    Raises InvalidImage for non-images, SVG, oversized files and decompression bombs.
    """
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidImage(_l("Images must be at most %(mb)d MB.", mb=max_bytes // (1024 * 1024)))
    if not data:
        raise InvalidImage(_l("The file is empty."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as probe:
                probe.verify()  # structural check before decoding pixels
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise InvalidImage(_l("That image has too many pixels."))
                img.seek(0)  # first frame of an animation
                img = ImageOps.exif_transpose(img)
                img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
                if square:
                    img = ImageOps.fit(img, box, Image.Resampling.LANCZOS)
                else:
                    img.thumbnail(box, Image.Resampling.LANCZOS)
                out = io.BytesIO()
                img.save(out, format="WEBP", quality=85, method=4)
                return out.getvalue()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(_l("That image has too many pixels."))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidImage()
