"""Waiting-room fixtures: a room in front of an open coupon drop, visitors with their own
cookies, and admission driven by the test (the background loop is off here: each
waiting-page load advances the room, and tests call advance() where time would)."""
import re
from datetime import timedelta

import pytest

from shop.extensions import db
from shop.timeutil import utcnow
from shop.waiting import rooms, services
from shop.waiting.models import WaitingRoom

from ..coupons.conftest import Claimer, admin, browser_as, event_input, make_users, open_event  # noqa: F401  (fixtures)

NUMBER = re.compile(r'"number": (\d+)')


@pytest.fixture(autouse=True)
def _rooms(app, monkeypatch):
    monkeypatch.setitem(app.config, "WAITING_ADMISSION_LOOP", False)
    rooms.cache(app).forget()
    yield
    rooms.cache(app).forget()
    rooms.cache(app).rooms = ()  # the rolled-back rooms must not outlive the test, even if a reload fails


@pytest.fixture
def make_room(app):
    """make(target=..., **fields) -> room id (enabled, admission open)."""

    def make(target, target_kind="coupon", **kw) -> int:
        fields = dict(name="Launch line", target_kind=target_kind, target=str(target), mode="cap", rate_per_minute=600,
                      active_cap=2, session_minutes=10, queue_order="fifo", opens_at=utcnow() - timedelta(minutes=1),
                      on_redis_down="closed", enabled=True)
        fields.update(kw)
        with app.app_context():
            room = services.save_room(None, services.RoomInput(**fields))
            rooms.cache(app).forget()
            return room.id

    return make


def set_room(app, room_id, **fields):
    with app.app_context():
        room = db.session.get(WaitingRoom, room_id)
        for name, value in fields.items():
            setattr(room, name, value)
        db.session.commit()
    rooms.cache(app).forget()


def advance(app, room_id):
    with app.app_context():
        return services.advance(rooms.get(room_id, app))


def ticket_number(response) -> int:
    return int(NUMBER.search(response.get_data(as_text=True)).group(1))
