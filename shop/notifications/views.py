"""Notifications page, read marks (htmx) and the live SSE stream."""

from flask import Blueprint, current_app, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..web.forms import EmptyForm
from ..web.i18n import current_locale
from ..web.numbers import MAX_ID, parse_int
from ..web.htmx import wants_fragment
from ..extensions import db
from . import live, services
from ..web import sse
from .models import Notification

bp = Blueprint("notifications", __name__)


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


@bp.route("/notifications/stream")
@login_required
def stream():
    """SSE: an initial event, a heartbeat comment every ~15 s, `id:` on every event,
    replay after `Last-Event-ID`. The channel comes from the session, never the URL,
    and no database connection is held while the stream idles. Toasts are written in
    the subscriber's language (their account's, as their pages are), whoever caused
    the event; the publish carries only the row's id, and each toast is loaded and
    rendered once per process and language, whatever the number of open streams
    (live.py)."""
    app = current_app._get_current_object()
    user_id, locale = current_user.id, current_locale()
    last_id = parse_int(request.headers.get("Last-Event-ID"), 0, MAX_ID) or 0  # anything else: a fresh page
    sent = live.Sent(last_id)

    def first():
        # Runs after subscribing: anything committed after this read is published after
        # the subscription, so it reaches the stream. A fresh page needs no replay; a
        # reconnect replays what it missed after Last-Event-ID.
        if not last_id:
            sent.floor = services.latest_id(user_id)  # only what happens from now on
            return sse.frame("connected", "ready", sent.floor)
        sent.floor, missed = live.replay(user_id, last_id, locale)
        return sse.frame("connected", "ready", last_id) + missed

    def catch_up():  # after the hub lost Redis: whatever was committed meanwhile
        sent.floor, chunk = live.replay(user_id, sent.last, locale)
        sent.recent.clear()
        return chunk

    return sse.stream([sse.user_channel(user_id), sse.SITE_CHANNEL], first=first, on_resync=catch_up,
                      per_message=lambda message: live.on_message(app, message, user_id, locale, sent))
