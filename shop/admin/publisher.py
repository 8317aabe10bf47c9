"""The publisher dashboard (/publisher/): the logged-in publisher's sales per day, revenue,
units, rating trend and latest reviews. Admins may look at any publisher with
?publisher_id=."""
from dataclasses import dataclass

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..accounts.decorators import role_required
from ..accounts.models import User
from ..web.numbers import MAX_ID, parse_int
from ..extensions import db
from . import stats
from .blueprint import publisher_bp

GAMES_PER_PAGE = 20


@dataclass
class GamesPage:
    """One page of the games table, with what the shared pager macro reads."""
    items: list
    page: int
    pages: int
    total: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def games_page(games: list, raw_page: str | None, per_page: int = GAMES_PER_PAGE) -> GamesPage:
    """The page `raw_page` (any text from the query string) of `games`; anything that is
    not a page number is page 1, and numbers past either end go to that end."""
    pages = max(1, -(-len(games) // per_page))
    raw_page = (raw_page or "1").strip()
    try:
        page = int(raw_page)
    except ValueError:  # not a number, or more digits than int() reads (past the end)
        page = pages if raw_page.isdigit() else 1
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page
    return GamesPage(games[start:start + per_page], page, pages, len(games))


def _publisher() -> User:
    """The publisher whose figures are shown: oneself, or (admins only) ?publisher_id=,
    by default the first publisher."""
    if not current_user.is_admin:
        return current_user
    raw = request.args.get("publisher_id")
    if not raw:
        user = db.session.scalar(select(User).where(User.role == "publisher").order_by(User.id).limit(1))
    else:  # not an id (or out of the id range) names no publisher, like an unknown id
        wanted = parse_int(raw, 1, MAX_ID)
        user = db.session.get(User, wanted) if wanted is not None else None
    if user is None or user.role != "publisher":
        abort(404)
    return user


def _publisher_choices() -> list[tuple[int, str]]:
    return list(db.session.execute(select(User.id, User.nickname).where(User.role == "publisher")
                                   .order_by(User.nickname, User.id).limit(500)))


@publisher_bp.route("/")
@role_required("publisher")
def dashboard():
    publisher = _publisher()
    days = stats.publisher_sales_per_day(publisher.id)
    games = stats.publisher_games(publisher.id)
    views = stats.publisher_views_per_day(publisher.id, [g["id"] for g in games])
    for d in days:
        d["views"] = views.get(d["day"], 0)
    trend = stats.publisher_rating_trend(publisher.id)
    rated = [g for g in games if g["rating"] is not None]
    totals = {
        "revenue_recent": sum(d["revenue"] for d in days), "units_recent": sum(d["count"] for d in days),
        "views_recent": sum(d["views"] for d in days),
        "revenue": sum(g["revenue"] for g in games), "units": sum(g["units"] for g in games),
        "reviews": sum(g["reviews"] for g in games),
        "rating": (round(sum(g["rating"] * g["reviews"] for g in rated) / sum(g["reviews"] for g in rated), 2)
                   if rated else None),
    }
    sales_chart = {"labels": [d["day"].strftime("%m-%d") for d in days],
                   "datasets": [{"label": _("Copies sold"), "data": [d["count"] for d in days], "kind": "bar"},
                                {"label": _("Sales"), "data": [d["revenue"] for d in days], "kind": "line", "axis": "y1",
                                 "money": True}],
                   "axes": {"y": {"title": _("Copies")}, "y1": {"title": _("Sales (₩)"), "money": True}}}
    rating_chart = {"labels": [w["week"].strftime("%m-%d") for w in trend],
                    "datasets": [{"label": _("Average rating"), "data": [w["rating"] for w in trend], "kind": "line"},
                                 {"label": _("Reviews"), "data": [w["count"] for w in trend], "kind": "bar", "axis": "y1"}],
                    "axes": {"y": {"title": _("Rating"), "min": 0, "max": 5}, "y1": {"title": _("Reviews")}}}
    return render_template("publisher/dashboard.html", publisher=publisher, days=days, games=games, trend=trend,
                           totals=totals, sales_chart=sales_chart, rating_chart=rating_chart,
                           games_page=games_page(games, request.args.get("page", type=str)),
                           reviews=stats.publisher_latest_reviews(publisher.id),
                           viewing_other=publisher.id != current_user.id,
                           publishers=_publisher_choices() if current_user.is_admin else [])
