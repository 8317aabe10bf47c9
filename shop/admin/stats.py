"""The numbers behind the admin dashboard and the publisher dashboard.

Every figure is one set-based query (GROUP BY in the database, never a query per row)
that runs on SQLite and PostgreSQL. Days and weeks are Korean days: Asia/Seoul has no
daylight saving, so a UTC timestamp's Korean date is the date of timestamp + 9 hours.

Revenue is what PAID orders charged (`orders.total`, after coupons and points), counted
on the day they were paid (`paid_at`, index orders(status, paid_at)); a refunded order
is REFUNDED, so it leaves the figures. Per game, sales are the charged line prices
(`order_lines.price`), before order-wide coupons and points.
"""
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import case, func, select

from ..catalog import rankings
from ..catalog.models import Game, GameDailyViews
from ..extensions import db
from ..orders.models import Order, OrderLine
from ..reviews.models import Review
from ..timeutil import SEOUL, utcnow

KST_OFFSET_HOURS = 9


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def kst_day(column):
    """SQL for the Korean calendar date of a UTC timestamp column, as 'YYYY-MM-DD'."""
    if _dialect() == "postgresql":
        return func.to_char(func.timezone("Asia/Seoul", column), "YYYY-MM-DD")
    return func.date(column, f"+{KST_OFFSET_HOURS} hours")


def kst_week(column):
    """SQL for the Monday (Korean date, 'YYYY-MM-DD') of the week of a UTC timestamp."""
    if _dialect() == "postgresql":
        return func.to_char(func.date_trunc("week", func.timezone("Asia/Seoul", column)), "YYYY-MM-DD")
    # SQLite: forward to Sunday (or stay on it), then back six days to that week's Monday.
    return func.date(column, f"+{KST_OFFSET_HOURS} hours", "weekday 0", "-6 days")


def today_kst(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SEOUL).date()


def window(days: int = 30, now: datetime | None = None) -> tuple[list[date], datetime]:
    """The last `days` Korean days (oldest first, today last) and the UTC instant the first began."""
    today = today_kst(now)
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=SEOUL).astimezone(timezone.utc)
    return [first + timedelta(days=n) for n in range(days)], start


def _fill(days: list[date], rows: dict[str, tuple]) -> list[dict]:
    out = []
    for day in days:
        revenue, count = rows.get(day.isoformat(), (0, 0))
        out.append({"day": day, "revenue": int(revenue or 0), "count": int(count or 0)})
    return out


def revenue_per_day(days: int = 30, now: datetime | None = None) -> list[dict]:
    """[{day, revenue, count}] of PAID orders for each of the last `days` Korean days."""
    span, start = window(days, now)
    day = kst_day(Order.paid_at).label("day")
    q = (select(day, func.sum(Order.total), func.count())
         .where(Order.status == "PAID", Order.paid_at >= start).group_by(day))
    return _fill(span, {d: (rev, n) for d, rev, n in db.session.execute(q)})


def top_games(days: int = 30, limit: int = 10, now: datetime | None = None) -> list[dict]:
    """The best-selling games of the last `days` Korean days by charged line prices."""
    _, start = window(days, now)
    revenue = func.sum(OrderLine.price).label("revenue")
    q = (select(Game.id, Game.title, Game.slug, revenue, func.count(OrderLine.id).label("units"))
         .select_from(OrderLine).join(Order, Order.id == OrderLine.order_id).join(Game, Game.id == OrderLine.game_id)
         .where(Order.status == "PAID", Order.paid_at >= start)
         .group_by(Game.id, Game.title, Game.slug).order_by(revenue.desc(), Game.id).limit(limit))
    return [{"id": i, "title": t, "slug": s, "revenue": int(r or 0), "units": int(u)} for i, t, s, r, u in db.session.execute(q)]


# --- one publisher ----------------------------------------------------------------------

def _publisher_sales(publisher_id: int):
    return (select().select_from(OrderLine).join(Order, Order.id == OrderLine.order_id)
            .join(Game, Game.id == OrderLine.game_id)
            .where(Order.status == "PAID", Game.publisher_id == publisher_id))


def publisher_sales_per_day(publisher_id: int, days: int = 30, now: datetime | None = None) -> list[dict]:
    """[{day, revenue, count}]: the publisher's copies sold (count) and their prices, per Korean day."""
    span, start = window(days, now)
    day = kst_day(Order.paid_at).label("day")
    q = (_publisher_sales(publisher_id).add_columns(day, func.sum(OrderLine.price), func.count(OrderLine.id))
         .where(Order.paid_at >= start).group_by(day))
    return _fill(span, {d: (rev, n) for d, rev, n in db.session.execute(q)})


def publisher_games(publisher_id: int, days: int = 30, now: datetime | None = None) -> list[dict]:
    """Each of the publisher's games with units and revenue (last `days` days and all time),
    average rating and review count: three grouped subqueries joined to the games."""
    _, start = window(days, now)
    sales = (select(OrderLine.game_id.label("game_id"), func.count(OrderLine.id).label("units"),
                    func.sum(OrderLine.price).label("revenue"),
                    func.sum(_when(Order.paid_at >= start, 1)).label("units_recent"),
                    func.sum(_when(Order.paid_at >= start, OrderLine.price)).label("revenue_recent"))
             .join(Order, Order.id == OrderLine.order_id).where(Order.status == "PAID")
             .group_by(OrderLine.game_id).subquery())
    ratings = (select(Review.game_id.label("game_id"), func.avg(Review.rating).label("rating"),
                      func.count(Review.id).label("reviews")).group_by(Review.game_id).subquery())
    q = (select(Game.id, Game.title, Game.slug, Game.status, sales.c.units, sales.c.revenue, sales.c.units_recent,
                sales.c.revenue_recent, ratings.c.rating, ratings.c.reviews)
         .outerjoin(sales, sales.c.game_id == Game.id).outerjoin(ratings, ratings.c.game_id == Game.id)
         .where(Game.publisher_id == publisher_id).order_by(func.coalesce(sales.c.revenue, 0).desc(), Game.title))
    return [{"id": i, "title": t, "slug": s, "status": st, "units": int(u or 0), "revenue": int(r or 0),
             "units_recent": int(ur or 0), "revenue_recent": int(rr or 0),
             "rating": None if rating is None else round(float(rating), 2), "reviews": int(n or 0)}
            for i, t, s, st, u, r, ur, rr, rating, n in db.session.execute(q)]


def publisher_views_per_day(publisher_id: int, game_ids: list[int], days: int = 30,
                            now: datetime | None = None) -> dict[date, int]:
    """{Korean day: page views of the publisher's games} for the last `days` days: what
    the `catalog-persist-views` job copied to game_daily_views, and for today (still
    counting) and yesterday (until the job has run) what Redis holds."""
    span, _ = window(days, now)
    q = (select(GameDailyViews.day, func.sum(GameDailyViews.views)).join(Game, Game.id == GameDailyViews.game_id)
         .where(Game.publisher_id == publisher_id, GameDailyViews.day >= span[0]).group_by(GameDailyViews.day))
    views = {day: int(n or 0) for day, n in db.session.execute(q)}
    for day in span[-2:]:
        if day not in views:
            views[day] = sum(rankings.views_of(game_ids, day).values())
    return views


def _when(condition, value):
    return case((condition, value), else_=0)


def publisher_rating_trend(publisher_id: int, weeks: int = 12, now: datetime | None = None) -> list[dict]:
    """[{week (Monday), rating (average, or None), count}] of reviews of the publisher's games,
    for each of the last `weeks` Korean weeks, oldest first."""
    today = today_kst(now)
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=weeks - 1)
    start = datetime.combine(first, time.min, tzinfo=SEOUL).astimezone(timezone.utc)
    week = kst_week(Review.created_at).label("week")
    q = (select(week, func.avg(Review.rating), func.count(Review.id)).join(Game, Game.id == Review.game_id)
         .where(Game.publisher_id == publisher_id, Review.created_at >= start).group_by(week))
    rows = {w: (avg, n) for w, avg, n in db.session.execute(q)}
    out = []
    for k in range(weeks):
        day = first + timedelta(weeks=k)
        avg, n = rows.get(day.isoformat(), (None, 0))
        out.append({"week": day, "rating": None if avg is None else round(float(avg), 2), "count": int(n)})
    return out


def publisher_latest_reviews(publisher_id: int, limit: int = 8) -> list[Review]:
    """The newest reviews of the publisher's games (author and game joined in the same query)."""
    return db.session.scalars(select(Review).join(Game, Game.id == Review.game_id)
                              .where(Game.publisher_id == publisher_id)
                              .order_by(Review.created_at.desc(), Review.id.desc()).limit(limit)).all()

