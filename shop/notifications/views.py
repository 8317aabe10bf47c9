"""Notifications page, read marks (htmx) and the live SSE stream."""

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import bindparam, func, select

from ..web.forms import EmptyForm
from ..web.i18n import current_locale, in_locale
from ..web.numbers import MAX_ID, parse_int
from ..web.htmx import wants_fragment
from ..extensions import db
from . import services
from ..web import sse
from .models import Notification

bp = Blueprint("notifications", __name__)


# What a stream sends for each new notification: services.newer_than() plus
# services.unread_count() (for the badge) as ONE statement, built once. Every open
# stream runs it per notification, and building the ORM queries anew each time cost
# about five times the CPU (bench/sse.py; docs/benchmarks.md).
_N = Notification.__table__.c
_REPLAY = (
    select(_N.id, _N.kind, _N.params, _N.message, _N.link,
           select(func.count()).where(_N.user_id == bindparam("user_id"), _N.read_at.is_(None))
           .scalar_subquery().label("unread"))
    .where(_N.user_id == bindparam("user_id"), _N.id > bindparam("last_id"))
    .order_by(_N.id)
    .limit(100)
)



@bp.route("/notifications")
@login_required
def page():
    rows = services.recent(current_user.id, limit=100)
    return render_template("notifications/page.html", rows=rows, form=EmptyForm())


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def mark_read(notification_id):
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.mark_read(current_user.id, notification_id)
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != current_user.id:
        abort(404)
    if wants_fragment():
        return render_template("notifications/_read_response.html", row=row,
                               unread=services.unread_count(current_user.id))
    if row.link and request.form.get("go"):
        return redirect(row.link)
    return redirect(url_for("notifications.page"))


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def mark_all_read():
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.mark_all_read(current_user.id)
    if wants_fragment():
        rows = services.recent(current_user.id, limit=100)
        return render_template("notifications/_list.html", rows=rows, form=EmptyForm(), unread=0, oob_badge=True)
    return redirect(url_for("notifications.page"))


def _replay(user_id: int, last_id: int, locale: str) -> tuple[int, str]:
    """The user's rows newer than `last_id` as SSE `notification` events (a toast plus
    the badge, out of band), written in `locale`, and the new last id. One short DB
    visit: one statement on a pooled connection that goes back to the pool before
    anything is rendered."""
    rows = db.session.execute(_REPLAY, {"user_id": user_id, "last_id": last_id}).all()
    db.session.remove()
    if not rows:
        return last_id, ""
    chunks = []
    with in_locale(locale):
        for row in rows:
            html = render_template("notifications/_toast.html", row=row, unread=row.unread)
            chunks.append(sse.frame("\n".join(line for line in html.splitlines() if line.strip()),
                                    "notification", row.id))
    return rows[-1].id, "".join(chunks)


@bp.route("/notifications/stream")
@login_required
def stream():
    """SSE: an initial event, a heartbeat comment every ~15 s, `id:` on every event,
    replay after `Last-Event-ID`. The channel comes from the session, never the URL,
    and no database connection is held while the stream idles. Toasts are written in
    the subscriber's language (their account's, as their pages are), whoever caused
    the event: the stream renders them, the publish carries only the row's id."""
    user_id, locale = current_user.id, current_locale()
    last_id = parse_int(request.headers.get("Last-Event-ID"), 0, MAX_ID) or 0  # anything else: a fresh page
    replay = bool(last_id)
    state = {"last": last_id}

    def first():
        # Runs after subscribing: anything committed after this read is published after
        # the subscription, so it reaches the stream. A fresh page needs no replay; a
        # reconnect replays what it missed after Last-Event-ID.
        if not replay:
            state["last"] = services.latest_id(user_id)  # only what happens from now on
        opening = sse.frame("connected", "ready", state["last"])
        if replay:
            state["last"], missed = _replay(user_id, state["last"], locale)
            opening += missed
        return opening

    def catch_up():
        state["last"], chunk = _replay(user_id, state["last"], locale)
        return chunk

    def render(channel, data):
        if channel == sse.SITE_CHANNEL:  # transient (e.g. live counters): no id, no replay
            return sse.frame(data, "broadcast")
        if not data.isdigit() or int(data) <= state["last"]:
            return ""
        return catch_up()

    return sse.stream([sse.user_channel(user_id), sse.SITE_CHANNEL], render, first=first, on_resync=catch_up)
