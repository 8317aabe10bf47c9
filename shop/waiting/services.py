"""Waiting-room operations: admitting (one Lua call, then one broadcast when waiters
should hear of it) and the admin's create/update, each in one transaction with its
audit row (the caller records it)."""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..coupons.redis_state import keys as coupon_keys
from ..errors import DomainError
from ..extensions import db
from ..infra.redisconn import redis_clients
from . import state
from .models import WaitingRoom
from .rooms import Room, cache


class RoomError(DomainError):
    field = "name"


class BadTarget(RoomError):
    field = "target"
    message = _l("Name an existing coupon drop, game, or at least one path starting with /.")


def room_redis() -> state.RoomRedis:
    found, client = current_app.extensions.get("waiting_redis"), redis_clients.store
    if found is None or found.client is not client:  # the app's client was replaced
        found = current_app.extensions["waiting_redis"] = state.RoomRedis(client)
    return found


def coupon_stock(room: Room, client) -> int | None:
    if room.coupon_event_id is None:
        return None
    value = client.get(coupon_keys(room.coupon_event_id)["stock"])
    return int(value) if value is not None else None


def advance(room: Room) -> dict:
    """Admit whoever's turn it is now and, when that or the stock changed, publish the
    room's one broadcast. Returns the broadcast's numbers. Raises RedisError."""
    rr = room_redis()
    stock = coupon_stock(room, rr.client)
    picked, through, waiting, changed = rr.advance(room, stock)
    numbers = {"through": through, "waiting": waiting, "stock": stock, "rate": room.admissions_per_minute}
    if changed:
        rr.client.publish(state.channel(room.id), state.message(**numbers))
    return numbers


@dataclass
class RoomInput:
    name: str
    target_kind: str
    target: str
    mode: str
    rate_per_minute: int
    active_cap: int
    session_minutes: int
    queue_order: str
    opens_at: datetime
    on_redis_down: str
    enabled: bool


def _check_target(data: RoomInput) -> str:
    from ..catalog.models import Game
    from ..coupons.models import CouponEvent

    target = data.target.strip()
    if data.target_kind == "coupon":
        if not (target.isascii() and target.isdigit() and len(target) < 10 and db.session.get(CouponEvent, int(target))):
            raise BadTarget()
        return str(int(target))
    if data.target_kind == "game":
        if not target or db.session.query(Game.id).filter(Game.slug == target).first() is None:
            raise BadTarget()
        return target
    paths = [p.strip() for p in target.splitlines() if p.strip()]
    if not paths or any(not p.startswith("/") or len(p) > 200 or " " in p for p in paths) or len(paths) > 20:
        raise BadTarget()
    return "\n".join(paths)


def save_room(room: WaitingRoom | None, data: RoomInput) -> WaitingRoom:
    """Create (room None) or change a room, committing it with the caller's audit row.
    Raises BadTarget."""
    target = _check_target(data)
    if room is None:
        room = WaitingRoom()
        db.session.add(room)
    for name, value in data.__dict__.items():
        setattr(room, name, value)
    room.target = target
    db.session.commit()
    cache().forget()
    return room


def clear_queue(room_id: int):
    """Forget a room's line and admissions (after it is turned off, for a fresh start)."""
    room_redis().clear(room_id)
