"""The claim's language, chosen without loading the user's row: the `lang` cookie (login
sets it to the account's language), then Accept-Language, then Korean. That is
shop/web/i18n.py's select_locale without its first step, the account, which the claim
never loads (the fast lane answers before Flask, the view reads the session's Redis
copy). Both take the raw headers through `claim_locale()`, so they always agree."""
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from ..web.i18n import COOKIE, DEFAULT, LOCALES, normalize

ACCEPTABLE = LOCALES + ("ko-KR", "en-US", "en-GB")  # what select_locale offers best_match
MAX_CACHED, MAX_CACHED_HEADER = 512, 200
_accepted: dict[str, str] = {}  # Accept-Language header -> locale ("" for none); browsers send few


def cookie(header: str | None, name: str = COOKIE) -> str | None:
    """The first `name` cookie in a Cookie header."""
    if not header or name + "=" not in header:
        return None
    for part in header.split(";"):
        key, _eq, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def from_accept_language(header: str | None) -> str | None:
    """The supported locale Accept-Language prefers, as `request.accept_languages.best_match`."""
    if not header:
        return None
    found = _accepted.get(header)
    if found is None:
        found = normalize(parse_accept_header(header, LanguageAccept).best_match(ACCEPTABLE)) or ""
        if len(_accepted) < MAX_CACHED and len(header) <= MAX_CACHED_HEADER:
            _accepted[header] = found
    return found or None


def claim_locale(cookie_header: str | None, accept_language: str | None) -> str:
    return normalize(cookie(cookie_header)) or from_accept_language(accept_language) or DEFAULT
