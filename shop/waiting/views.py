"""The waiting page and its live stream.

GET /waiting/<R>: joins the line (or finds the visitor's place from the ticket cookie),
advances the room (lazy admission), and either hands out the pass and sends the visitor
on, or shows the place in line. The page reloads itself without JavaScript; with it, it
listens to /waiting/<R>/stream, where every waiter gets the same broadcast ("now
admitting up to ticket N", waiting, stock left) and works out its own place."""
import json

from flask import Blueprint, abort, current_app, make_response, redirect, request
from flask_babel import force_locale
from redis.exceptions import RedisError

from ..coupons.claim_locale import claim_locale

from ..web import sse
from ..web.urls import safe_next
from . import rooms, state
from .passes import pass_cookie, signer, ticket_cookie
from .services import room_redis
from .ticker import ensure_running

bp = Blueprint("waiting", __name__)


def _render(name: str, **context) -> str:
    """The template without the app's context processors: Flask-Login's loads the user
    from the database on every render, which a page reloaded by thousands at once can't
    afford (the page needs only the site's name and the language)."""
    from ..web.i18n import current_locale

    return current_app.jinja_env.get_template(name).render(
        site_name=current_app.config["SITE_NAME"], current_locale=current_locale(), **context)


def _cookie(response, name: str, value: str, max_age: int | None):
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False), path="/")


def _go_in(room, ticket: str, target: str):
    response = redirect(target, 303)
    _cookie(response, pass_cookie(room.id), signer(current_app).issue_pass(room.id, ticket), room.session_seconds)
    response.delete_cookie(ticket_cookie(room.id), path="/")
    return response


@bp.route("/waiting/<int:room_id>")
def room(room_id):
    """The page speaks the `lang` cookie's language, else Accept-Language (as the claim's
    fast lane does): never the account's, which would cost every load a database query
    in a stampede (every login writes the cookie)."""
    with force_locale(claim_locale(request.headers.get("Cookie"), request.headers.get("Accept-Language"))):
        return _room(room_id)


def _room(room_id):
    found = rooms.get(room_id)
    target = safe_next(request.args.get("next"), default=found.home if found else "/")
    if found is None:
        return redirect(target)  # no such room, or turned off: nothing to wait for
    app = current_app._get_current_object()
    ensure_running(app)
    sign = signer(app)
    if sign.read_pass(found.id, request.cookies.get(pass_cookie(found.id)), found.session_seconds):
        return redirect(target)
    held = sign.read_ticket(found.id, request.cookies.get(ticket_cookie(found.id)))
    try:
        seen = room_redis().visit(found, held[0] if held else None)  # one round trip; the loop broadcasts
    except RedisError as exc:  # down, or this process's pool of connections exhausted
        current_app.logger.warning("waiting room %s: Redis unreachable (%s), failing %s", found.id, exc,
                                   found.on_redis_down)
        if found.on_redis_down == "open":
            return _go_in(found, state.new_ticket_id(), target)
        response = make_response(_render("waiting/unavailable.html", room=found, target=target), 503)
        response.headers["Retry-After"] = "10"
        return response
    if seen["state"] == "in":
        return _go_in(found, seen["ticket"], target)
    number = seen["number"] if seen["number"] is not None else held[1]
    numbers = seen
    position = seen["rank"] + 1 if seen["rank"] is not None else max(number - seen["through"], 1)
    rate = found.admissions_per_minute
    response = make_response(_render(
        "waiting/room.html", room=found, target=target, number=number, position=position,
        minutes=max(round((position - 1) / rate), 0), waiting=numbers["waiting"], stock=numbers["stock"],
        settings=json.dumps({"number": number, "random": found.queue_order == "random", "rate": rate,
                             "through": numbers["through"], "stock": numbers["stock"]})))
    _cookie(response, ticket_cookie(found.id), sign.ticket(found.id, seen["ticket"], number), None)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/waiting/<int:room_id>/stream")
def stream(room_id):
    """SSE: the room's one broadcast, as `admit` events carrying its JSON."""
    found = rooms.get(room_id)
    if found is None:
        abort(404)

    def first():
        try:
            summary = room_redis().summary(found.id)
        except RedisError:
            return ""
        return sse.frame(state.message(summary["through"], summary["waiting"], summary["stock"],
                                       found.admissions_per_minute), "admit")

    return sse.stream([state.channel(found.id)], lambda _channel, data: sse.frame(data, "admit"), first=first)
