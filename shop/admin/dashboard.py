"""Admin: the dashboard (/admin/) — revenue and paid orders per Korean day, top games, live
coupon drops (remaining stock over SSE), failed jobs and recent mail."""
import logging

from flask import render_template
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import func, select

from ..coupons.models import Coupon, CouponEvent
from ..coupons.redis_state import keys
from ..coupons.services import coupon_redis
from ..extensions import db
from ..infra.mail import EmailLog
from ..web import sse
from ..timeutil import utcnow
from . import stats
from .blueprint import bp
from .jobs import failed_jobs_count

log = logging.getLogger(__name__)
LIVE_EVENTS = 10
RECENT_EMAILS = 8


def live_events(limit: int = LIVE_EVENTS) -> list[dict]:
    """Coupon events that are open or upcoming, with claims counted in the database (one
    grouped query) and remaining stock from Redis (one MGET)."""
    events = db.session.scalars(select(CouponEvent).where(CouponEvent.closes_at > utcnow())
                                .order_by(CouponEvent.opens_at, CouponEvent.id).limit(limit)).all()
    if not events:
        return []
    ids = [e.id for e in events]
    counts = dict(db.session.execute(select(Coupon.event_id, func.count()).where(Coupon.event_id.in_(ids))
                                     .group_by(Coupon.event_id)).all())
    stocks = _stocks(ids)
    return [{"event": e, "state": e.window_state(), "persisted": counts.get(e.id, 0),
             "remaining": stocks.get(e.id) if stocks.get(e.id) is not None else max(e.quantity - counts.get(e.id, 0), 0)}
            for e in events]


def _stocks(event_ids) -> dict[int, int | None]:
    try:
        values = coupon_redis().client.mget([keys(i)["stock"] for i in event_ids])
    except RedisError:
        return {}
    return {i: (int(v) if v is not None else None) for i, v in zip(event_ids, values)}


def _email_summary() -> tuple[list[EmailLog], int]:
    recent = db.session.scalars(select(EmailLog).order_by(EmailLog.id.desc()).limit(RECENT_EMAILS)).all()
    failed = db.session.scalar(select(func.count()).select_from(EmailLog).where(EmailLog.status == "failed"))
    return recent, failed


@bp.route("/")
def dashboard():
    days = stats.revenue_per_day()
    try:
        failed_jobs = failed_jobs_count()
    except RedisError:
        failed_jobs = None  # shown as "unknown": the dashboard must open while Redis is down
    emails, failed_emails = _email_summary()
    totals = {"revenue": sum(d["revenue"] for d in days), "orders": sum(d["count"] for d in days),
              "today": days[-1]["revenue"], "today_orders": days[-1]["count"]}
    chart = {"labels": [d["day"].strftime("%m-%d") for d in days],
             "datasets": [{"label": _("Revenue"), "data": [d["revenue"] for d in days], "kind": "bar", "money": True},
                          {"label": _("Paid orders"), "data": [d["count"] for d in days], "kind": "line", "axis": "y1"}],
             "axes": {"y": {"title": _("Revenue (₩)"), "money": True}, "y1": {"title": _("Paid orders")}}}
    return render_template("admin/dashboard.html", days=days, chart=chart, totals=totals, top=stats.top_games(),
                           events=live_events(), failed_jobs=failed_jobs, emails=emails, failed_emails=failed_emails,
                           refunded=_refunded_recently())


def _refunded_recently() -> dict:
    """Refunds in the same 30-day window, shown beside revenue (they are not in it)."""
    _, start = stats.window(30)
    from ..orders.models import Order

    count, amount = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Order.total), 0))
        .where(Order.status == "REFUNDED", Order.refunded_at >= start)).one()
    return {"count": int(count), "amount": int(amount or 0)}


@bp.route("/coupons/live")
def coupon_stream():
    """SSE for the dashboard: `remaining-<event id>` events for every live coupon drop, over
    one connection (one per event would exhaust the browser's six connections per host).
    Fed by the same broadcast channels as the public event pages."""
    ids = [row["event"].id for row in live_events()]

    def counts():
        return "".join(sse.frame(v, f"remaining-{i}") for i, v in _stocks(ids).items() if v is not None)

    def render(channel, data):
        return sse.frame(data, f"remaining-{channel.rsplit(':', 1)[1]}") if data.isdigit() else ""

    return sse.stream([sse.coupon_channel(i) for i in ids], shared=render, first=counts, on_resync=counts)

