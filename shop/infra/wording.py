"""Words that emails and notifications share, written out when they are read or sent,
in the language in force then (`flask_babel.force_locale`): a month's name and an
order's name. Here, below the web layer, so the mail outbox can use them too."""
from datetime import date

from babel.dates import format_date
from flask_babel import get_locale, gettext as _

# "2026년 10월" / "October 2026"
MONTH = {"ko": "y년 M월", "en": "MMMM y"}


def locale_code() -> str:
    """The language in force ("ko" or "en"); Korean outside any context."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in MONTH else "ko"


def month_label(month: str) -> str:
    """'2026-10' in words; anything else as it is."""
    try:
        year, number = (int(part) for part in str(month).split("-", 1))
        day = date(year, number, 1)
    except ValueError:
        return str(month)
    code = locale_code()
    return format_date(day, MONTH[code], locale=code)


def order_label(title: str, more: int = 0) -> str:
    """An order's name from its first game and how many others it holds."""
    if not title:
        return _("Playcation order")
    if not more:
        return title
    return _("%(title)s and %(count)s more", title=title, count=more)


PLATFORMS = {"windows": "Windows", "macos": "macOS", "linux": "Linux"}


def platform_name(platform: str) -> str:
    """A build's platform as people write it (the same in Korean and English)."""
    return PLATFORMS.get(platform, str(platform))
