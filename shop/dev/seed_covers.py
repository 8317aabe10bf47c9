"""Demo cover images for `flask catalog seed`: a gradient, soft circles and the title,
920x430 like an uploaded cover, as WebP."""
import io
from functools import lru_cache
from pathlib import Path

from . import seed_words as w
from ..catalog.services import COVER_BOX


def render_cover(title: str, salt: int = 0) -> bytes:
    """A 920x430 WebP: a diagonal two-colour gradient, soft circles and the title.
    Without a Hangul font on the machine a Korean title is left off the picture
    (the page prints it anyway) rather than drawn as empty boxes."""
    from PIL import ImageDraw, ImageOps

    width, height = COVER_BOX
    start, end = w.COVER_COLOURS[(sum(map(ord, title)) + salt) % len(w.COVER_COLOURS)]
    img = ImageOps.colorize(_diagonal_ramp(), start, end)
    glow = ImageDraw.Draw(img, "RGBA")  # RGBA drawing blends onto the RGB picture
    for k in range(4):
        r = 80 + ((salt * 37 + k * 91) % 200)
        cx, cy = (salt * 131 + k * 173) % width, (salt * 71 + k * 97) % height
        glow.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 255, 255, 28))
    draw = ImageDraw.Draw(img)
    hangul = _needs_hangul(title)
    font, lines = _fit(draw, title if _font_path(hangul) or not hangul else "", width - 120, height - 100)
    line_height = font.size * 1.15
    y = height - 50 - line_height * len(lines)
    for line in lines:
        draw.text((62, y + 3), line, font=font, fill=(0, 0, 0))
        draw.text((60, y), line, font=font, fill=(255, 255, 255))
        y += line_height
    small = _fit(draw, "PLAYCATION", 400, 30)[0]
    draw.text((60, 40), "PLAYCATION", font=small, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, format="WEBP", quality=80, method=0)  # fastest encoder effort: covers are made in bulk
    return out.getvalue()


@lru_cache(maxsize=1)
def _diagonal_ramp():
    from PIL import Image, ImageChops

    down = Image.linear_gradient("L").resize(COVER_BOX)
    across = Image.linear_gradient("L").rotate(90).resize(COVER_BOX)
    return ImageChops.add(down, across, scale=2)


FONT_CANDIDATES = {
    False: ["/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"],
    True: ["/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf",
           "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
           "/usr/share/fonts/truetype/unfonts-core/UnDotumBold.ttf"],
}


def _needs_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


@lru_cache(maxsize=2)
def _font_path(hangul: bool) -> str | None:
    return next((p for p in FONT_CANDIDATES[hangul] if Path(p).is_file()), None)


def _fit(draw, text: str, max_width: int, max_height: int):
    """The largest font (and line split) that fits the title in the box."""
    from PIL import ImageFont

    path = _font_path(_needs_hangul(text))
    for size in (72, 64, 56, 48, 40, 34, 28, 22, 16):
        font = ImageFont.truetype(path, size) if path else ImageFont.load_default(size)
        lines, line = [], ""
        for word in text.split():
            trial = f"{line} {word}".strip()
            if draw.textlength(trial, font=font) <= max_width or not line:
                line = trial
            else:
                lines.append(line)
                line = word
        lines.append(line)
        if len(lines) * size * 1.15 <= max_height and all(draw.textlength(x, font=font) <= max_width for x in lines):
            return font, lines
    return font, lines
