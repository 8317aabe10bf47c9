"""Korean first, and English: which language a request speaks, and how money, dates and
relative times read in it.

The language comes from, in order: the account's setting, the `lang` cookie the
switcher writes (visitors), then Accept-Language; Korean when none of them says.
Strings in code are English msgids (`_("Added to cart.")`); translations/ko holds the
Korean. Formats go through Babel with the locale's own patterns, in Korea time.
"""
from datetime import date, datetime, timedelta

from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_currency, format_decimal
from flask import current_app, has_request_context, request
from flask_babel import Babel, force_locale, get_locale

from ..infra.locales import ACCEPTABLE, DEFAULT, LOCALES, normalize
from ..timeutil import SEOUL, format_seoul, to_seoul, utcnow

COOKIE = "lang"
COOKIE_AGE = 365 * 24 * 3600

babel = Babel()

# Babel's skeletons give "2026년 12월 2일 (수) 오후 3:05" and "Wed, Dec 2, 2026, 3:05 PM".
DATETIME = {"ko": "y년 M월 d일 (E) a h:mm", "en": "EEE, MMM d, y, h:mm a"}
DATE = {"ko": "y년 M월 d일 (E)", "en": "EEE, MMM d, y"}
SHORT = {"ko": "y. M. d. a h:mm", "en": "MMM d, y, h:mm a"}


def select_locale() -> str:
    from flask_login import current_user

    if has_request_context():
        user_locale = normalize(getattr(current_user, "locale", None)) if _user_loaded() else None
        if user_locale:
            return user_locale
        cookie = normalize(request.cookies.get(COOKIE))
        if cookie:
            return cookie
        best = normalize(request.accept_languages.best_match(ACCEPTABLE))
        if best:
            return best
    return DEFAULT


def _user_loaded() -> bool:
    """Whether a logged-in user is already known, or cheap to learn: a request carrying no
    session cookie is a visitor, so no user is looked up just to pick a language."""
    from flask import g

    if "_login_user" in g:
        return bool(getattr(g._login_user, "is_authenticated", False))
    return current_app.config["SESSION_COOKIE_NAME"] in request.cookies or \
        current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies


def current_locale() -> str:
    return str(get_locale() or DEFAULT)


def in_locale(locale: str | None):
    """`with in_locale(user.locale): ...` renders an email or a notification in its
    reader's language (Korean when they never chose)."""
    return force_locale(normalize(locale) or DEFAULT)


# --- formats --------------------------------------------------------------------------

def won(amount, locale: str | None = None) -> str:
    """12,000원 in Korean, ₩12,000 in English (integer KRW)."""
    locale = locale or current_locale()
    value = int(amount or 0)
    if locale == "ko":
        return f"{format_decimal(value, locale='ko')}원"
    return format_currency(value, "KRW", locale="en_US")


def _aware(value: datetime) -> datetime:
    return to_seoul(value)


def datetime_kst(value: datetime | date | None, style: str = "long", locale: str | None = None) -> str:
    """A UTC time in Korea time, in the locale's words: '2026년 12월 2일 (수) 오후 3:05'.
    `style` is long, date or short, or a strftime pattern for numeric stamps that read
    the same in every language ('%Y-%m-%d %H:%M')."""
    if value is None:
        return ""
    if not isinstance(value, datetime):  # a calendar date (a release date): no time, no zone
        if "%" in style:
            return value.strftime(style)
        locale = locale or current_locale()
        return format_date(value, DATE[locale], locale=locale)
    if "%" in style:
        return format_seoul(value, style)
    locale = locale or current_locale()
    pattern = {"long": DATETIME, "date": DATE, "short": SHORT}[style][locale]
    return format_datetime(_aware(value), pattern, tzinfo=SEOUL, locale=locale)


def ago(value: datetime | None, now: datetime | None = None, locale: str | None = None) -> str:
    """'3분 전' / '3 minutes ago' (and 'in 3 minutes' for the future)."""
    if value is None:
        return ""
    locale = locale or current_locale()
    delta: timedelta = value - (now or utcnow())
    if abs(delta.total_seconds()) < 45:
        return "방금" if locale == "ko" else "just now"
    return format_timedelta(delta, locale=locale, add_direction=True, threshold=0.9)


def number(value, locale: str | None = None) -> str:
    return format_decimal(int(value or 0), locale=locale or current_locale())


def init_app(app) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Seoul")
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters.update(won=won, kst=datetime_kst, ago=ago, number=number)
    app.jinja_env.add_extension("jinja2.ext.i18n")  # {% trans %} blocks, besides _() and ngettext()

    @app.context_processor
    def inject_locale():
        return {"current_locale": current_locale(), "LOCALES": LOCALES}
