"""Admin: waiting rooms created and changed with an audit row, bad targets refused under
their field, who may reach the pages, CSRF; and the room's series in /metrics."""
import re
from html import unescape

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from shop.admin.models import AuditLog
from shop.extensions import db
from shop.waiting.models import WaitingRoom

from .conftest import advance, browser_as


def form(**changes) -> dict:
    data = {"name": "Chuseok line", "target_kind": "coupon", "target": "", "mode": "rate", "rate_per_minute": "300",
            "active_cap": "100", "session_minutes": "15", "queue_order": "fifo", "opens_at": "2030-09-15T20:00",
            "on_redis_down": "closed", "enabled": "y"}
    data.update(changes)
    return data


def rooms_in_db(app) -> list[tuple]:
    with app.app_context():
        return [(r.name, r.target, r.rate_per_minute, r.enabled, r.opens_at.isoformat())
                for r in db.session.scalars(select(WaitingRoom).order_by(WaitingRoom.id))]


def errors(res) -> list[str]:
    return [unescape(e) for e in re.findall(r'<small class="error">(.*?)</small>', res.get_data(as_text=True))]


@pytest.mark.parametrize("role, status", [("admin", 200), ("publisher", 403), ("customer", 403), ("anonymous", 302)])
def test_only_admins_reach_the_waiting_room_admin(app, make_user, role, status):
    browser = browser_as(app, make_user, role)
    assert browser.get("/admin/waiting").status_code == status


@pytest.mark.parametrize("role, status", [("publisher", 403), ("customer", 403), ("anonymous", 302)])
def test_non_admins_cannot_create_or_change_rooms(app, make_user, open_event, make_room, role, status):
    event_id = open_event()
    room_id = make_room(event_id)
    browser = browser_as(app, make_user, role)
    assert browser.post("/admin/waiting", form(target=str(event_id))).status_code == status
    assert browser.post(f"/admin/waiting/{room_id}", form(target=str(event_id), name="Hijacked")).status_code == status
    assert browser.post(f"/admin/waiting/{room_id}/clear").status_code == status
    assert [r[0] for r in rooms_in_db(app)] == ["Launch line"]


def test_create_a_room_in_korea_time_with_an_audit_row(app, admin, open_event):
    event_id = open_event()
    res = admin.post("/admin/waiting", form(target=str(event_id)))
    assert res.status_code == 302
    assert rooms_in_db(app) == [("Chuseok line", str(event_id), 300, True, "2030-09-15T11:00:00+00:00")]
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "waiting_room.create")).one()
        assert entry.after["rate_per_minute"] == 300 and entry.target_id is not None
    page = admin.get("/admin/waiting").get_data(as_text=True)
    assert "Chuseok line" in page and f"/coupons/{event_id}" in page


@pytest.mark.parametrize("changes, message", [
    ({"target": "999999"}, "Name an existing coupon drop"),
    ({"target_kind": "game", "target": "no-such-game"}, "Name an existing coupon drop"),
    ({"target_kind": "paths", "target": "games"}, "Name an existing coupon drop"),
    ({"rate_per_minute": "0"}, "Number must be between 1 and 1000000."),
    ({"rate_per_minute": "99999999999999999999"}, "Number must be between 1 and 1000000."),
    ({"session_minutes": "abc"}, "Not a valid integer value."),
    ({"name": ""}, "This field is required."),
])
def test_bad_input_is_refused_and_changes_nothing(app, admin, changes, message):
    res = admin.post("/admin/waiting", form(target="/games/x", target_kind="paths") | changes)
    assert res.status_code == 400
    assert any(message in e for e in errors(res)), errors(res)
    assert rooms_in_db(app) == []


def test_edit_turns_a_room_off_and_clear_empties_its_line(app, admin, client, open_event, make_room, redis):
    event_id = open_event()
    room_id = make_room(event_id, active_cap=1)
    for _ in range(3):
        app.test_client().get(f"/waiting/{room_id}")
    assert admin.post(f"/admin/waiting/{room_id}/clear").status_code == 302  # refused while on
    assert redis.zcard(f"wr:{{room:{room_id}}}:queue") == 2
    res = admin.post(f"/admin/waiting/{room_id}", form(target=str(event_id), enabled=""))
    assert res.status_code == 302 and rooms_in_db(app)[0][3] is False
    assert client.get(f"/coupons/{event_id}").status_code == 200
    assert admin.post(f"/admin/waiting/{room_id}/clear").status_code == 302
    assert redis.zcard(f"wr:{{room:{room_id}}}:queue") == 0
    with app.app_context():
        actions = [a for (a,) in db.session.execute(select(AuditLog.action).where(AuditLog.target_type == "waiting_room"))]
    assert actions == ["waiting_room.update", "waiting_room.clear"]
    assert admin.post(f"/admin/waiting/{room_id}/clear", csrf=False).status_code == 400


def test_metrics_report_length_admissions_and_abandonment(app, client, open_event, make_room, redis):
    event_id = open_event()
    room_id = make_room(event_id, active_cap=2)
    for _ in range(5):
        app.test_client().get(f"/waiting/{room_id}")
    advance(app, room_id)
    redis.hset(f"wr:{{room:{room_id}}}:state", "abandoned", 1)
    res = client.get("/metrics")
    assert res.status_code == 200
    samples = {(s.name, s.labels.get("room")): s.value
               for family in text_string_to_metric_families(res.get_data(as_text=True)) for s in family.samples}
    assert samples[("playcation_waiting_room_length", str(room_id))] == 3
    assert samples[("playcation_waiting_room_admissions_total", str(room_id))] == 2
    assert samples[("playcation_waiting_room_abandoned_total", str(room_id))] == 1
