"""Coupon pages: the drop list, an event page with a live counter, the claim (the
fastest path in the app: session check in Redis + one Lua call, no database), and
the user's wallet."""

from flask import (Blueprint, Response, abort, current_app, jsonify, make_response, redirect, render_template,
                   request, url_for)
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from ..accounts.auth_cache import remember, session_ids, session_user
from ..extensions import db, limiter
from ..infra.metrics import count_claim
from ..web import sse
from ..timeutil import utcnow
from . import services, wallet
from .claim_locale import claim_locale
from .models import CouponEvent

bp = Blueprint("coupons", __name__)

MESSAGES = {
    "claimed": _l("Got it! The coupon is in your wallet."),
    "already_claimed": _l("You already have this coupon."),
    "sold_out": _l("All gone — this drop is sold out."),
    "not_open": _l("Not open yet. Come back when the drop starts."),
    "closed": _l("This drop has ended."),
    "rate_limited": _l("Too many attempts. Wait a second and try again."),
    "busy": _l("Many visitors are claiming at once. Wait a second and try again."),
    "unverified": _l("Verify your email to claim coupons."),
}
LOGIN_REQUIRED = _l("Log in to claim coupons.")


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _outcome_json(outcome: str, status: int, locale: str) -> Response:
    """What `jsonify(outcome=..., message=...)` returns, with the body serialised once per
    app, language and outcome instead of on every claim."""
    bodies = current_app.extensions.setdefault("coupon_claim_bodies", {})
    body = bodies.get((locale, outcome))
    if body is None:
        body = bodies[locale, outcome] = jsonify(outcome=outcome, message=MESSAGES[outcome]).get_data()
    return current_app.response_class(body, status=status, mimetype="application/json")


@bp.route("/coupons")
def events_page():
    events = db.session.scalars(select(CouponEvent).where(CouponEvent.closes_at > utcnow())
                                .order_by(CouponEvent.opens_at)).all()
    return render_template("coupons/events.html", events=[(e, services.remaining(e)) for e in events])


@bp.route("/coupons/<int:event_id>")
def event_page(event_id):
    event = db.session.get(CouponEvent, event_id)
    if event is None:
        abort(404)
    mine = None
    if current_user.is_authenticated:
        from .models import Coupon

        remember(current_user)  # the claim button on this page then finds the session in Redis
        mine = db.session.scalar(select(Coupon).where(Coupon.event_id == event.id, Coupon.user_id == current_user.id))
    return render_template("coupons/event.html", event=event, remaining=services.remaining(event), mine=mine,
                           state=event.window_state())


CLAIM_ENDPOINT = "coupons.claim"


@limiter.request_filter
def _claim_skips_limiter() -> bool:
    """Flask-Limiter has nothing to count on the claim (its per-user and per-IP limits are
    inside the claim's Lua script); `exempt` alone still resolves limits on every request."""
    return request.endpoint == CLAIM_ENDPOINT


@bp.route("/coupons/<int:event_id>/claim", methods=["POST"])
@limiter.exempt
def claim(event_id):
    """JSON `{outcome}` for `Accept: application/json`, an htmx fragment otherwise.

    The hot path: session cookie + CSRF (global middleware), the session's user from
    the Redis copy (auth_cache), then services.claim (a local sold-out flag, else one
    Lua call). No database, no Flask-Login user load, no template for JSON.

    Once this process has seen the event sell out, a logged-in session is told so
    before its Redis session check: most of a stampede arrives after the last coupon,
    and "sold out" is public anyway (the event page's live counter needs no login).
    Nothing can be claimed this way; visitors without a session still get login_required.

    In a web process the common cases of this route are answered by coupons/fastlane.py
    before Flask is entered; it hands everything else to this view, so the two must
    agree (tests/coupons/test_fastlane.py compares them response by response). Both
    speak the language claim_locale() picks from the headers, without the user's row."""
    locale = claim_locale(request.headers.get("Cookie"), request.headers.get("Accept-Language"))
    with force_locale(locale):
        return _claim(event_id, locale)


def _claim(event_id: int, locale: str):
    if session_ids() is not None and services.sold_out_cached(event_id):
        return _outcome(event_id, "sold_out", locale)
    who = session_user()
    if who is None:
        count_claim("login_required", "app")
        if _wants_json():
            return jsonify(outcome="login_required", message=LOGIN_REQUIRED), 401
        login = url_for("accounts.login", next=f"/coupons/{event_id}")
        if request.headers.get("HX-Request"):
            response = make_response("", 200)
            response.headers["HX-Redirect"] = login
            return response
        return redirect(login)
    user_id, verified = who
    if not verified:
        count_claim("unverified", "app")
        if _wants_json():
            return jsonify(outcome="unverified", message=MESSAGES["unverified"]), 403
        return render_template("coupons/_outcome.html", outcome="unverified", event_id=event_id,
                               message=MESSAGES["unverified"]), 403
    try:
        outcome = services.claim(event_id, user_id, request.remote_addr or "-")
    except services.NoSuchEvent:
        abort(404)
    return _outcome(event_id, outcome, locale)


def _outcome(event_id: int, outcome: str, locale: str):
    count_claim(outcome, "app")
    status = 429 if outcome == "rate_limited" else 200
    if _wants_json():
        return _outcome_json(outcome, status, locale)
    return render_template("coupons/_outcome.html", outcome=outcome, event_id=event_id,
                           message=MESSAGES[outcome]), status


@bp.route("/coupons/<int:event_id>/stream")
def remaining_stream(event_id):
    """SSE: the live remaining count of one event (a broadcast channel; no login)."""
    event = db.session.get(CouponEvent, event_id)
    if event is None:
        abort(404)
    return sse.stream([sse.coupon_channel(event_id)],
                      shared=lambda _channel, data: sse.frame(data, "remaining") if data.isdigit() else "",
                      first=lambda: sse.frame(services.remaining(event), "remaining"))


@bp.route("/coupons/mine")
@login_required
def mine():
    return render_template("coupons/wallet.html", wallet=wallet.wallet(current_user.id), now=utcnow())
