"""Where to send the browser next."""
from urllib.parse import urlsplit


def safe_next(target: str | None, default: str = "/") -> str:
    """Only our own absolute paths: no scheme, no host, no `//` or `/\\` tricks."""
    if not target or len(target) > 512:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(c in target for c in "\r\n\\"):
        return default
    return target
