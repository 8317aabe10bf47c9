"""The waiting page and its live stream.

GET /waiting/<R>: joins the line (or finds the visitor's place from the ticket cookie),
advances the room (lazy admission), and either hands out the pass and sends the visitor
on, or shows the place in line. The page reloads itself without JavaScript; with it, it
listens to /waiting/<R>/stream, where every waiter gets the same broadcast ("now
admitting up to ticket N", waiting, stock left) and works out its own place."""
import json
import random

from flask import Blueprint, abort, current_app, make_response, redirect, request
from flask_babel import force_locale
from redis.exceptions import RedisError

from ..coupons.claim_locale import claim_locale
from ..errors import PoolBusy
from ..web import sse
from ..web.urls import safe_next
from . import rooms, state
from .passes import pass_cookie, signer, ticket_cookie
from .services import coupon_stock, room_redis
from .ticker import ensure_running

bp = Blueprint("waiting", __name__)
# A busy process's "try again" (the visitor's ticket cookie is kept), spread over a few
# seconds so a crowd turned away together doesn't come back together.
BUSY_RETRY_SECONDS = (3, 8)


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
        rr = room_redis()
        stock = coupon_stock(found, rr.client)  # read now: a sold-out drop is told at once
        if stock == 0:
            return _page(found, target, held[1] if held else 0, None, {"through": 0, "waiting": 0, "stock": 0})
        seen = rr.visit(found, held[0] if held else None, stock)  # one round trip; the loop broadcasts
    except PoolBusy as exc:  # every connection of this process in use: busy, not down
        current_app.logger.info("waiting room %s: %s; the visitor tries again", found.id, exc)
        return _try_again(found, target, 200, random.randint(*BUSY_RETRY_SECONDS))
    except RedisError as exc:  # Redis down: refused, or no answer within the socket timeouts
        current_app.logger.warning("waiting room %s: Redis unreachable (%s), failing %s", found.id, exc,
                                   found.on_redis_down)
        if found.on_redis_down == "open":
            return _go_in(found, state.new_ticket_id(), target)
        return _try_again(found, target, 503, 10)
    if seen["state"] == "in":
        return _go_in(found, seen["ticket"], target)
    number = seen["number"] if seen["number"] is not None else held[1]
    response = _page(found, target, number, seen["rank"], seen)
    _cookie(response, ticket_cookie(found.id), sign.ticket(found.id, seen["ticket"], number), None)
    return response


def _try_again(found, target: str, status: int, seconds: int):
    """The page that reloads itself in `seconds`: 200 for a busy process (the ticket
    cookie is left as it was), 503 for Redis down."""
    response = make_response(_render("waiting/unavailable.html", room=found, target=target, busy=status == 200,
                                     retry=seconds), status)
    response.headers["Retry-After"] = str(seconds)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(found, target: str, number: int, rank: int | None, numbers: dict):
    """The line page: the place (number − "through", or the draw's rank), the wait, and
    the drop's stock (0: the sold-out notice instead)."""
    position = rank + 1 if rank is not None else max(number - numbers["through"], 1)
    rate = found.admissions_per_minute
    response = make_response(_render(
        "waiting/room.html", room=found, target=target, number=number, position=position,
        minutes=max(round((position - 1) / rate), 0), waiting=numbers["waiting"], stock=numbers["stock"],
        settings=json.dumps({"number": number, "random": found.queue_order == "random", "rate": rate,
                             "through": numbers["through"], "stock": numbers["stock"]})))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/waiting/<int:room_id>/stream")
def stream(room_id):
    """SSE: the room's one broadcast, as `admit` events carrying its JSON."""
    found = rooms.get(room_id)
    if found is None:
        abort(404)
    ensure_running(current_app._get_current_object())

    def first():
        """Where the room stands now, with the drop's stock read now: a stream opened (or
        reopened) after the sold-out broadcast hears "sold out" at once."""
        try:
            rr = room_redis()
            summary = rr.summary(found.id, found.coupon_event_id)
        except RedisError:
            return ""
        stock = summary["live_stock"] if summary["live_stock"] is not None else summary["stock"]
        return sse.frame(state.message(summary["through"], summary["waiting"], stock,
                                       found.admissions_per_minute), "admit")

    return sse.stream([state.channel(found.id)], shared=_admit_frame, first=first)


def _admit_frame(_channel: str, data: str) -> str:
    """The broadcast as an `admit` event: made once per process, the same bytes to every
    waiter (no per-stream app context or formatting)."""
    return sse.frame(data, "admit")
