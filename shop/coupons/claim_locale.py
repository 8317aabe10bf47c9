"""The claim's language, chosen without loading the user's row: the `lang` cookie (login
sets it to the account's language), then Accept-Language, then Korean. That is
shop/web/i18n.py's select_locale without its first step, the account, which the claim
never loads (the fast lane answers before Flask, the view reads the session's Redis
copy). Both take the raw headers through `claim_locale()`, so they always agree."""
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from ..web.i18n import ACCEPTABLE, COOKIE, DEFAULT, LOCALES, normalize
MAX_CACHED, MAX_CACHED_HEADER = 512, 200
_accepted: dict[str, str] = {}  # Accept-Language header -> locale ("" for none); browsers send few


def cookie(header: str | None, name: str = COOKIE) -> str | None:
    """The first `name` cookie in a Cookie header (found in place: the header also
    carries the long session cookie, not worth splitting on every claim)."""
    if not header:
        return None
    key = name + "="
    start = header.find(key)
    while start != -1:
        if start == 0 or header[start - 1] in "; ":
            end = header.find(";", start)
            return header[start + len(key):end if end != -1 else len(header)].strip()
        start = header.find(key, start + 1)
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
    chosen = cookie(cookie_header)
    if chosen in LOCALES:  # what the switcher and login write
        return chosen
    return normalize(chosen) or from_accept_language(accept_language) or DEFAULT
