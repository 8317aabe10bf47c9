"""Which rooms are on, as every request must know cheaply: a per-process snapshot of the
enabled rooms, read from the database at most once per WAITING_ROOM_CACHE_SECONDS
(default 2 s). With no room enabled the gate costs a clock read and an empty loop.
An admin's change is seen by this process at once (forget()) and by the others within
that many seconds."""
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from .models import WaitingRoom

# Never held: the room's own pages, static files, the admin console (where it is turned
# off), health and metrics, and the language switch.
EXEMPT = ("/waiting/", "/static/", "/admin", "/healthz", "/metrics", "/language")


@dataclass(frozen=True)
class Room:
    id: int
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
    exact: tuple[str, ...]
    prefixes: tuple[str, ...]
    coupon_event_id: int | None

    @property
    def session_seconds(self) -> int:
        return self.session_minutes * 60

    @property
    def admissions_per_minute(self) -> float:
        """What the estimate divides by: the rate, or the cap turned over once a session."""
        return float(self.rate_per_minute) if self.mode == "rate" else self.active_cap / self.session_minutes

    @property
    def home(self) -> str:
        """Where an admitted visitor goes when no page sent them."""
        return self.exact[0] if self.exact else (self.prefixes[0] if self.prefixes else "/")

    def guards(self, path: str) -> bool:
        if path in self.exact:
            return True
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.prefixes)


def snapshot(row: WaitingRoom) -> Room:
    paths = row.prefixes()
    exact = paths if row.target_kind == "coupon" else ()
    return Room(row.id, row.name, row.target_kind, row.target, row.mode, row.rate_per_minute, row.active_cap,
                row.session_minutes, row.queue_order, row.opens_at, row.on_redis_down, exact,
                () if exact else paths, row.coupon_event_id)


class RoomCache:
    def __init__(self):
        self.rooms: tuple[Room, ...] = ()
        self.loaded_at = float("-inf")
        self._lock = threading.Lock()

    def current(self, app=None) -> tuple[Room, ...]:
        app = app or current_app._get_current_object()
        ttl = float(app.config.get("WAITING_ROOM_CACHE_SECONDS", 2))
        if time.monotonic() - self.loaded_at < ttl:
            return self.rooms
        with self._lock:
            if time.monotonic() - self.loaded_at >= ttl:
                self._load(app)
        return self.rooms

    def _load(self, app):
        try:
            with app.app_context():
                rows = db.session.scalars(select(WaitingRoom).where(WaitingRoom.enabled.is_(True))
                                          .order_by(WaitingRoom.id)).all()
                self.rooms = tuple(snapshot(r) for r in rows)
        except Exception:  # the database unreachable: keep the rooms last seen, retry next time
            app.logger.warning("waiting rooms: could not read the configuration", exc_info=True)
        self.loaded_at = time.monotonic()

    def forget(self):
        """Read the rooms again at the next request (an admin changed one)."""
        self.loaded_at = float("-inf")


def cache(app=None) -> RoomCache:
    app = app or current_app._get_current_object()
    found = app.extensions.get("waiting_rooms")
    if found is None:
        found = app.extensions.setdefault("waiting_rooms", RoomCache())
    return found


def active(app=None) -> tuple[Room, ...]:
    return cache(app).current(app)


def room_for(path: str, app=None) -> Room | None:
    rooms = active(app)
    if not rooms or path.startswith(EXEMPT):
        return None
    for room in rooms:
        if room.guards(path):
            return room
    return None


def get(room_id: int, app=None) -> Room | None:
    return next((r for r in active(app) if r.id == room_id), None)
