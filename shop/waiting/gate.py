"""Holding the door: a before-request hook that sends a visitor without a valid pass for
a guarded path to the room's waiting page, and the same check for the coupon claim's
fast lane (coupons.gates). Cheap when no room is on: rooms.room_for() reads a
per-process snapshot and returns at once.

A pass is checked by its signature alone (no Redis). Only a coupon claim does one
Redis call more: the pass is bound to the first account that claims with it, and a
second account with a copy is refused. If Redis is unreachable at that point the room's
`on_redis_down` decides: `open` lets the claim through (the claim itself then fails on
Redis as usual), `closed` answers 503. A process whose Redis connections all stayed
busy (PoolBusy) is not an outage: the claim is answered 429, try again."""
from flask import current_app, jsonify, make_response, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from werkzeug.http import parse_cookie

from ..errors import PoolBusy
from .passes import pass_cookie, signer
from .rooms import room_for

HOOK_NAME = "shop.waiting.gate.waiting_room_gate"
JOIN_FIRST = _l("This drop has a waiting room. Join the line to get your turn.")
COPIED = _l("This pass is already in use by another account. Join the line for your own turn.")
UNAVAILABLE = _l("The waiting room is unavailable for a moment. Try again shortly.")
BUSY = _l("Many visitors are arriving at once. Try again in a moment.")


def _is_claim(path: str) -> bool:
    return path.endswith("/claim") and path.startswith("/coupons/")


def _bound(app, room, ticket: str, user_id: int | None) -> bool | None:
    """True if the pass may claim for this account, False for a copy, None if Redis is
    down. Raises PoolBusy (the process is busy, not Redis)."""
    if user_id is None:
        return True
    from .services import room_redis

    try:
        with app.app_context():
            return room_redis().bind_owner(room.id, ticket, user_id, room.session_seconds)
    except PoolBusy:
        raise
    except RedisError:
        return None


def waiting_room_gate():
    room = room_for(request.path)
    if room is None:
        return None
    from .ticker import ensure_running

    app = current_app._get_current_object()
    ensure_running(app)
    ticket = signer(app).read_pass(room.id, request.cookies.get(pass_cookie(room.id)), room.session_seconds)
    if ticket is not None and not _is_claim(request.path):
        return None
    if ticket is not None:
        from ..accounts.auth_cache import session_ids

        ids = session_ids()
        try:
            bound = _bound(app, room, ticket, ids[0] if ids else None)
        except PoolBusy:
            return _refuse(room, BUSY, 429)
        if bound or (bound is None and room.on_redis_down == "open"):
            return None
        return _refuse(room, COPIED if bound is False else UNAVAILABLE, 403 if bound is False else 503)
    return _refuse(room, JOIN_FIRST, 403)


def _refuse(room, message, status):
    back = request.full_path.rstrip("?") if request.method == "GET" else room.home
    target = url_for("waiting.room", room_id=room.id, next=back)
    if request.method == "GET" and status == 403:
        return redirect(target)
    if request.accept_mimetypes.best == "application/json":
        response = jsonify(outcome="waiting_room", message=str(message), waiting_url=target)
        if status == 429:
            response.headers["Retry-After"] = "2"
        return response, status
    if request.headers.get("HX-Request"):
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    if status in (429, 503):
        response = make_response(str(message), status)
        response.headers["Retry-After"] = "10" if status == 503 else "2"
        return response
    return redirect(target, 303)


def fast_lane_allows(app, environ, event_id: int, user_id: int) -> bool:
    """The hook's rule for the claim's fast lane: True to let it claim, False to hand the
    request to Flask (which refuses or redirects). Raises PoolBusy."""
    path = environ.get("PATH_INFO", "")
    room = room_for(path, app)
    if room is None:
        return True
    cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
    ticket = signer(app).read_pass(room.id, cookies.get(pass_cookie(room.id)), room.session_seconds)
    return ticket is not None and _bound(app, room, ticket, user_id) is True  # PoolBusy: the lane answers 429


def init_app(app):
    from ..coupons import gates

    app.before_request(waiting_room_gate)
    gates.register(HOOK_NAME, fast_lane_allows)

