"""Age ratings (GRAC, 게임물관리위원회 classes) and release state of a game: what the
store front shows and the rules the cart, checkout, gifts and downloads ask.

- `age_rating` is one of RATINGS; "19" (청소년이용불가) needs an adult buyer
  (accounts.age.is_adult): `check_buyer` raises AdultOnly otherwise.
- Nobody who isn't a verified adult sees the cover or screenshots of a 19 game: lists and
  the game page show the "19" placeholder instead. Anonymous visitors count as not
  verified (Korean stores do the same), so search engines and shared links never carry
  adult images. The fragment cache keys every fragment by this audience
  (cache.localized).
- A game is coming soon while its release date (a Korean calendar day) is after today;
  it can then be bought only as a pre-order, and only if the publisher allows it.
"""
from datetime import date

from flask import g, has_request_context
from flask_babel import gettext as _, lazy_gettext as _l

from ..accounts.age import is_adult
from ..errors import DomainError
from ..timeutil import seoul_today

ADULT_ONLY = "19"
RATINGS = (("all", _l("All ages")), ("12", _l("12+")), ("15", _l("15+")), (ADULT_ONLY, _l("Adults only (19+)")))
LABELS = dict(RATINGS)


class AdultOnly(DomainError):
    message = _l("This game is rated Adults only (19+). Verify your age to buy it.")


class NotReleased(DomainError):
    pass


def label(code: str) -> str:
    return str(LABELS.get(code, LABELS["all"]))


def is_adult_only(game) -> bool:
    return game.age_rating == ADULT_ONLY


def check_buyer(user, game, today: date | None = None):
    """Raises AdultOnly unless `user` may have `game` (purchase, gift claim, download)."""
    if is_adult_only(game) and not is_adult(user, today):
        raise AdultOnly(_("%(title)s is rated Adults only (19+). Verify your age to buy it.", title=game.title))


def viewer_is_adult() -> bool:
    """Is the current request's user a verified adult (once per request)."""
    if not has_request_context():
        return False
    if "viewer_is_adult" not in g:
        from flask_login import current_user

        g.viewer_is_adult = is_adult(current_user)
    return g.viewer_is_adult


def audience() -> str:
    """The fragment cache's audience part: what covers a page may show."""
    return "adult" if viewer_is_adult() else "all"


def shows_cover(game) -> bool:
    return not is_adult_only(game) or viewer_is_adult()


def coming_soon(game, today: date | None = None) -> bool:
    return game.release_date is not None and game.release_date > (today or seoul_today())


def check_release(game, today: date | None = None):
    """Raises NotReleased for a coming-soon game the publisher doesn't sell as a pre-order."""
    if coming_soon(game, today) and not game.preorder_allowed:
        raise NotReleased(_("%(title)s comes out on %(date)s and can't be pre-ordered.", title=game.title,
                            date=_date(game.release_date)))


def _date(value: date) -> str:
    from ..web.i18n import datetime_kst

    return datetime_kst(value, "date")


def template_helpers() -> dict:
    return {"age_label": label, "shows_cover": shows_cover, "coming_soon": coming_soon, "ADULT_ONLY": ADULT_ONLY}
