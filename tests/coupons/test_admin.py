"""Admin: coupon events created and edited in Korea time, validation messages under the
right field, quantity raised while open (Redis stock grows) and never below what was
claimed, who may reach the pages, and CSRF."""
import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import func, select

from shop.coupons import services
from shop.coupons.models import CouponEvent
from shop.coupons.redis_state import keys
from shop.extensions import db
from shop.timeutil import to_seoul, utcnow

from .conftest import browser_as


def form(**changes) -> dict:
    data = {"name": "Chuseok drop", "description": "Holiday coupons", "discount_type": "fixed",
            "discount_value": "5000", "discount_cap": "", "min_order_amount": "20000", "quantity": "100",
            "opens_at": "2030-09-15T09:00", "closes_at": "2030-09-15T21:00", "valid_days": "7",
            "valid_until": "", "scope_tag_id": "0", "scope_publisher_id": "0"}
    data.update(changes)
    return data


def events(app) -> list[CouponEvent]:
    with app.app_context():
        rows = db.session.scalars(select(CouponEvent).order_by(CouponEvent.id)).all()
        db.session.expunge_all()
        return rows


def errors(res) -> list[str]:
    return [unescape(e) for e in re.findall(r'<small class="error">(.*?)</small>', res.get_data(as_text=True))]


def field_error(res, field) -> str | None:
    """The error shown inside the <label> of one field."""
    html = res.get_data(as_text=True)
    m = re.search(rf'<label for="{field}">(.*?)</label>', html, re.S)
    e = m and re.search(r'<small class="error">(.*?)</small>', m.group(1))
    return unescape(e.group(1)) if e else None


# --- who may -----------------------------------------------------------------------------------

@pytest.mark.parametrize("role, status", [("admin", 200), ("publisher", 403), ("customer", 403), ("anonymous", 302)])
@pytest.mark.parametrize("page", ["/admin/coupons", "/admin/coupons/{id}"])
def test_only_admins_reach_the_coupon_admin(app, make_user, open_event, role, status, page):
    event_id = open_event()
    browser = browser_as(app, make_user, role)
    res = browser.get(page.format(id=event_id))
    assert res.status_code == status
    if role == "anonymous":
        assert res.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role, status", [("publisher", 403), ("customer", 403), ("anonymous", 302)])
@pytest.mark.parametrize("page", ["/admin/coupons", "/admin/coupons/{id}"])
def test_non_admins_cannot_create_or_edit(app, make_user, open_event, role, status, page):
    event_id = open_event(quantity=10)
    browser = browser_as(app, make_user, role)
    res = browser.post(page.format(id=event_id), form(quantity="999"))
    assert res.status_code == status
    assert [(e.id, e.quantity) for e in events(app)] == [(event_id, 10)]


def test_forms_without_the_csrf_token_are_refused(app, admin, open_event, redis):
    event_id = open_event(quantity=10)
    assert admin.post("/admin/coupons", form(), csrf=False).status_code == 400
    assert admin.post(f"/admin/coupons/{event_id}", form(quantity="50"), csrf=False).status_code == 400
    assert [(e.id, e.quantity) for e in events(app)] == [(event_id, 10)]
    assert redis.get(keys(event_id)["stock"]) == "10"


# --- create ------------------------------------------------------------------------------------

def test_create_an_event_in_korea_time(app, admin, redis):
    res = admin.post("/admin/coupons", form(valid_until="2030-10-01T00:00", discount_type="percent",
                                            discount_value="15", discount_cap="10000"))
    assert res.status_code == 302 and res.headers["Location"] == "/admin/coupons"
    (event,) = events(app)
    # 09:00 KST is 00:00 UTC; midnight KST on 1 October is 15:00 UTC on 30 September.
    assert event.opens_at == datetime(2030, 9, 15, 0, 0, tzinfo=timezone.utc)
    assert event.closes_at == datetime(2030, 9, 15, 12, 0, tzinfo=timezone.utc)
    assert event.valid_until == datetime(2030, 9, 30, 15, 0, tzinfo=timezone.utc)
    assert (event.discount_type, event.discount_value, event.discount_cap) == ("percent", 15, 10000)
    assert (event.quantity, event.min_order_amount, event.valid_days) == (100, 20000, 7)
    assert (event.scope_tag_id, event.scope_publisher_id) == (None, None)
    meta = redis.hgetall(keys(event.id)["meta"])
    assert int(meta["opens"]) == int(event.opens_at.timestamp() * 1000) and meta["quantity"] == "100"
    assert redis.get(keys(event.id)["stock"]) == "100"
    page = admin.get("/admin/coupons").get_data(as_text=True)
    assert "Coupon event “Chuseok drop” created." in unescape(page)
    # the admin page's stamps: numeric, or the long English form (09:00 and 21:00 KST)
    assert any(window in page for window in ("2030-09-15 09:00 – 2030-09-15 21:00",
                                             "Sun, Sep 15, 2030, 9:00 AM – Sun, Sep 15, 2030, 9:00 PM"))
    assert "15% off (up to ₩10,000)" in page


def test_create_with_a_scope(app, admin, make_user):
    from shop.catalog.models import Tag

    publisher = make_user(role="publisher", nickname="Supergiant")
    with app.app_context():
        tag = Tag(name="Roguelike", slug="roguelike")
        db.session.add(tag)
        db.session.commit()
        tag_id = tag.id
    page = admin.get("/admin/coupons").get_data(as_text=True)
    assert f'<option value="{tag_id}">Roguelike</option>' in page
    assert f'<option value="{publisher.id}">Supergiant</option>' in page
    res = admin.post("/admin/coupons", form(scope_tag_id=str(tag_id), scope_publisher_id=str(publisher.id)))
    assert res.status_code == 302
    (event,) = events(app)
    assert (event.scope_tag_id, event.scope_publisher_id) == (tag_id, publisher.id)


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", "This field is required."),
    ({"closes_at": "2030-09-15T08:00"}, "closes_at", "The claim window must close after it opens."),
    ({"closes_at": "2030-09-15T09:00"}, "closes_at", "The claim window must close after it opens."),
    ({"valid_days": ""}, "valid_days", "Set how long claimed coupons stay valid."),
    ({"valid_days": "", "valid_until": "2030-09-15T20:00"}, "valid_until",
     "A fixed validity date must come after the claim window closes."),
    ({"discount_type": "percent", "discount_value": "150"}, "discount_value",
     "Discounts are a positive amount, and percentages at most 100."),
    ({"discount_value": "0"}, "discount_value", "Number must be between 1 and 1000000."),
    ({"quantity": "0"}, "quantity", "Number must be between 1 and 10000000."),
    ({"quantity": ""}, "quantity", "This field is required."),
    ({"opens_at": "15/09/2030 09:00"}, "opens_at", "Not a valid datetime value."),
])
def test_validation_messages(app, admin, changes, field, message):
    res = admin.post("/admin/coupons", form(**changes))
    assert res.status_code == 400
    assert field_error(res, field) == message, errors(res)
    assert events(app) == []


# --- edit --------------------------------------------------------------------------------------

def test_edit_page_shows_times_in_korea_time(app, admin):
    admin.post("/admin/coupons", form())
    (event,) = events(app)
    page = admin.get(f"/admin/coupons/{event.id}").get_data(as_text=True)
    assert 'value="2030-09-15T09:00"' in page and 'value="2030-09-15T21:00"' in page
    assert 'value="Chuseok drop"' in page and "0 claimed so far" in page


def test_raising_the_quantity_while_open_grows_the_stock(app, admin, open_event, make_users, redis):
    users = make_users(3)
    event_id = open_event(quantity=2)
    with app.app_context():
        assert [services.claim(event_id, u.id) for u in users] == ["claimed", "claimed", "sold_out"]
    opens_kst = to_seoul(utcnow() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    res = admin.post(f"/admin/coupons/{event_id}", form(quantity="5", opens_at=opens_kst, closes_at="2099-01-01T00:00"))
    assert res.status_code == 302, errors(res)
    assert redis.get(keys(event_id)["stock"]) == "3"
    assert [e.quantity for e in events(app)] == [5]
    with app.app_context():
        assert services.claim(event_id, users[2].id) == "claimed"  # the sold-out flag went too
    assert redis.get(keys(event_id)["stock"]) == "2"


def test_quantity_never_drops_below_what_was_claimed(app, admin, open_event, make_users, redis):
    """Claims count from the moment Redis says "claimed", persisted or not."""
    users = make_users(3)
    event_id = open_event(quantity=5)
    with app.app_context():
        for u in users:
            services.claim(event_id, u.id)
    res = admin.post(f"/admin/coupons/{event_id}", form(quantity="2", opens_at="2020-01-01T00:00",
                                                         closes_at="2099-01-01T00:00"))
    assert res.status_code == 400
    assert field_error(res, "quantity") == "3 coupons were already claimed; the quantity can't go below that."
    assert [e.quantity for e in events(app)] == [5] and redis.get(keys(event_id)["stock"]) == "2"
    res = admin.post(f"/admin/coupons/{event_id}", form(quantity="3", opens_at="2020-01-01T00:00",
                                                         closes_at="2099-01-01T00:00"))
    assert res.status_code == 302
    assert redis.get(keys(event_id)["stock"]) == "0"


def test_editing_the_window_moves_it_in_redis(app, admin, open_event, make_users):
    (user,) = make_users(1)
    event_id = open_event()
    res = admin.post(f"/admin/coupons/{event_id}", form(opens_at="2031-01-01T00:00", closes_at="2031-01-02T00:00"))
    assert res.status_code == 302
    with app.app_context():
        assert services.claim(event_id, user.id) == "not_open"


def test_editing_an_unknown_event_is_404(admin):
    assert admin.get("/admin/coupons/424242").status_code == 404
    assert admin.post("/admin/coupons/424242", form()).status_code == 404


def test_admin_list_shows_claimed_and_left(app, admin, open_event, make_users):
    users = make_users(2)
    event_id = open_event(quantity=7, name="Seven up")
    with app.app_context():
        for u in users:
            services.claim(event_id, u.id)
        from shop.coupons.consumer import drain_event

        drain_event(event_id)
        assert db.session.scalar(select(func.count()).select_from(CouponEvent)) == 1
    page = admin.get("/admin/coupons").get_data(as_text=True)
    row = re.search(r"Seven up.*?</tr>", page, re.S).group(0)
    # claimed (Redis), persisted, used, left, quantity
    assert re.findall(r'<td class="num"(?: data-col="\w+")?>(\d+)</td>', row) == ["2", "2", "0", "5", "7"]
