"""Coupon events in the admin console: claimed (Redis) vs persisted vs used per event,
close now, reconcile (repairs a broken Redis count), audit rows for every change, who
may, and CSRF."""
import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import update

from shop.coupons import services
from shop.coupons.consumer import drain_event
from shop.coupons.models import Coupon, CouponEvent
from shop.coupons.redis_state import keys
from shop.extensions import db
from shop.timeutil import utcnow

from ..coupons.conftest import open_event  # noqa: F401  (a fixture, shared with the coupon tests)


def claim(app, event_id, *user_ids):
    with app.app_context():
        return [services.claim(event_id, u) for u in user_ids]


def counts(html: str, event_id: int) -> dict[str, str]:
    row = re.search(rf'<tr data-event="{event_id}">(.*?)</tr>', html, re.S).group(1)
    return dict(re.findall(r'<td class="num" data-col="(\w+)">([^<]+)</td>', row))


def event_row(app, event_id):
    with app.app_context():
        event = db.session.get(CouponEvent, event_id)
        db.session.expunge(event)
        return event


def form(**changes) -> dict:
    data = {"name": "Chuseok drop", "description": "", "discount_type": "fixed", "discount_value": "5000",
            "discount_cap": "", "min_order_amount": "0", "quantity": "100", "opens_at": "2030-09-15T09:00",
            "closes_at": "2030-09-15T21:00", "valid_days": "7", "valid_until": "", "scope_tag_id": "0",
            "scope_publisher_id": "0"}
    data.update(changes)
    return data


# --- who may ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role, status", [("publisher", 403), ("customer", 403), ("anonymous", 302)])
@pytest.mark.parametrize("action", ["close", "reconcile"])
def test_only_admins_close_or_reconcile(app, login_as, open_event, audit_rows, role, status, action):
    event_id = open_event()
    before = event_row(app, event_id).closes_at
    assert login_as(role).post(f"/admin/coupons/{event_id}/{action}").status_code == status
    assert event_row(app, event_id).closes_at == before and audit_rows() == []


@pytest.mark.parametrize("action", ["close", "reconcile"])
def test_close_and_reconcile_need_the_csrf_token(app, admin_browser, open_event, audit_rows, action):
    event_id = open_event()
    before = event_row(app, event_id).closes_at
    assert admin_browser.post(f"/admin/coupons/{event_id}/{action}", csrf=False).status_code == 400
    assert event_row(app, event_id).closes_at == before and audit_rows() == []


@pytest.mark.parametrize("action", ["close", "reconcile"])
def test_missing_events_are_404(admin_browser, action):
    assert admin_browser.post(f"/admin/coupons/999999/{action}").status_code == 404


# --- the list --------------------------------------------------------------------------------

def test_the_list_shows_claimed_persisted_and_used(app, admin_browser, open_event, make_user, redis):
    users = [make_user().id for _ in range(3)]
    event_id = open_event(quantity=10)
    other = open_event(quantity=5, name="Quiet drop")
    claim(app, event_id, *users[:2])
    with app.app_context():
        drain_event(event_id)  # two rows in the database
    claim(app, event_id, users[2])  # claimed in Redis, not persisted yet
    with app.app_context():
        db.session.execute(update(Coupon).where(Coupon.event_id == event_id, Coupon.user_id == users[0])
                           .values(status="used", used_at=utcnow()))
        db.session.commit()
    html = admin_browser.page("/admin/coupons")
    assert counts(html, event_id) == {"claimed": "3", "persisted": "2", "used": "1", "left": "7"}
    assert counts(html, other) == {"claimed": "0", "persisted": "0", "used": "0", "left": "5"}
    assert 'class="admin-nav"' in html and 'aria-current="page">Coupons</a>' in html


# --- close now -------------------------------------------------------------------------------

def test_close_now_ends_the_window_in_the_database_and_redis(app, admin_browser, open_event, make_user, redis,
                                                            audit_rows):
    event_id = open_event()
    was = event_row(app, event_id).closes_at
    res = admin_browser.post(f"/admin/coupons/{event_id}/close")
    assert res.status_code == 302 and res.headers["Location"] == "/admin/coupons"
    assert "“Spring drop” closed now." in unescape(admin_browser.flashes())
    closed = event_row(app, event_id).closes_at
    assert closed <= utcnow() and closed > utcnow() - timedelta(minutes=1)
    assert int(redis.hget(keys(event_id)["meta"], "closes")) == int(closed.timestamp() * 1000)
    assert claim(app, event_id, make_user().id) == ["closed"]
    (row,) = audit_rows(action="coupon_event.close")
    assert (row.target_type, row.target_id, row.target_label) == ("coupon_event", str(event_id), "Spring drop")
    assert row.before == {"closes_at": was.isoformat()} and row.after == {"closes_at": closed.isoformat()}

    # Closing it again is refused and changes nothing.
    admin_browser.post(f"/admin/coupons/{event_id}/close")
    assert "“Spring drop” is already closed." in unescape(admin_browser.flashes())
    assert event_row(app, event_id).closes_at == closed and len(audit_rows(action="coupon_event.close")) == 1


def test_an_upcoming_event_is_not_closed(app, admin_browser, open_event, audit_rows):
    event_id = open_event(opens_at=utcnow() + timedelta(days=1), closes_at=utcnow() + timedelta(days=2))
    before = event_row(app, event_id)
    admin_browser.post(f"/admin/coupons/{event_id}/close")
    assert "not open yet" in admin_browser.flashes()
    assert event_row(app, event_id).closes_at == before.closes_at and audit_rows() == []


# --- reconcile -------------------------------------------------------------------------------

def test_reconcile_repairs_a_broken_redis_count(app, admin_browser, open_event, make_user, redis, audit_rows):
    users = [make_user().id for _ in range(3)]
    event_id = open_event(quantity=10)
    claim(app, event_id, *users)
    with app.app_context():
        drain_event(event_id)
    # Break it: Redis forgets two claimers and believes the stock is full again.
    k = keys(event_id)
    redis.srem(k["claimed"], users[0], users[1])
    redis.set(k["stock"], 10)
    assert counts(admin_browser.page("/admin/coupons"), event_id)["claimed"] == "1"

    res = admin_browser.post(f"/admin/coupons/{event_id}/reconcile")
    assert res.status_code == 302
    flash = unescape(admin_browser.flashes())
    assert "Reconciled “Spring drop”: database 3, Redis 3 claimed, stock 7; repaired 2 claimer(s)." in flash
    assert redis.scard(k["claimed"]) == 3 and redis.get(k["stock"]) == "7"
    assert claim(app, event_id, users[0]) == ["already_claimed"]  # no second coupon for a forgotten claimer
    (row,) = audit_rows(action="coupon_event.reconcile")
    assert row.target_id == str(event_id) and row.after["repaired_claimers"] == 2 and "repaired 2" in row.note


def test_reconcile_rebuilds_lost_redis_state(app, admin_browser, open_event, make_user, redis):
    users = [make_user().id for _ in range(2)]
    event_id = open_event(quantity=5)
    claim(app, event_id, *users)
    with app.app_context():
        drain_event(event_id)
    k = keys(event_id)
    redis.delete(k["meta"], k["stock"], k["claimed"], k["stream"])
    admin_browser.post(f"/admin/coupons/{event_id}/reconcile")
    assert "rebuilt from the database" in admin_browser.flashes()
    assert redis.get(k["stock"]) == "3" and redis.scard(k["claimed"]) == 2


# --- audit of create and edit ------------------------------------------------------------------

def test_create_and_edit_write_audit_rows(app, admin_browser, audit_rows):
    res = admin_browser.post("/admin/coupons", form())
    assert res.status_code == 302
    (created,) = audit_rows(action="coupon_event.create")
    with app.app_context():
        event_id = db.session.scalar(db.select(CouponEvent.id))
    assert (created.target_type, created.target_id, created.target_label) == ("coupon_event", str(event_id), "Chuseok drop")
    assert created.after["quantity"] == 100 and created.after["opens_at"] == "2030-09-15T00:00:00+00:00"
    assert created.actor_id == admin_browser.user.id

    res = admin_browser.post(f"/admin/coupons/{event_id}", form(quantity="150", name="Chuseok drop 2"))
    assert res.status_code == 302
    (edited,) = audit_rows(action="coupon_event.update")
    assert edited.before == {"quantity": 100, "name": "Chuseok drop"}
    assert edited.after == {"quantity": 150, "name": "Chuseok drop 2"}


def test_a_refused_create_or_edit_leaves_no_audit_row(app, admin_browser, open_event, make_user, audit_rows):
    assert admin_browser.post("/admin/coupons", form(closes_at="2030-09-15T08:00")).status_code == 400
    event_id = open_event(quantity=2)
    claim(app, event_id, make_user().id, make_user().id)
    res = admin_browser.post(f"/admin/coupons/{event_id}", form(quantity="1", opens_at="2020-01-01T00:00",
                                                                closes_at="2099-01-01T00:00"))
    assert res.status_code == 400
    assert audit_rows() == []
