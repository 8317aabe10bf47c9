"""A coupon drop end to end: create, claim over HTTP, persist, wallet, checkout discount."""
from datetime import timedelta

from sqlalchemy import select

from shop.coupons import services
from shop.coupons.consumer import drain_event
from shop.coupons.models import Coupon
from shop.extensions import db
from shop.timeutil import utcnow

from ..support.browser import run_jobs
from ..support.catalog import make_game


def _event(app, quantity=2, **kw):
    with app.app_context():
        data = dict(name="Launch drop", discount_type="fixed", discount_value=3000, quantity=quantity,
                    opens_at=utcnow() - timedelta(minutes=1), closes_at=utcnow() + timedelta(hours=1), valid_days=7)
        data.update(kw)
        return services.create_event(services.EventInput(**data)).id


def test_claim_persist_and_spend(app, browser, make_user):
    event_id = _event(app, quantity=1)
    buyer, late = make_user(), make_user()
    browser.login(buyer.email)
    json = {"Accept": "application/json"}
    res = browser.post(f"/coupons/{event_id}/claim", headers=json)
    assert res.status_code == 200 and res.get_json()["outcome"] == "claimed"
    assert browser.post(f"/coupons/{event_id}/claim", headers=json).get_json()["outcome"] == "already_claimed"
    other = type(browser)(app)
    other.login(late.email)
    assert other.post(f"/coupons/{event_id}/claim", headers=json).get_json()["outcome"] == "sold_out"
    with app.app_context():
        assert drain_event(event_id) == 1
        coupon = db.session.scalar(select(Coupon))
        assert coupon.user_id == buyer.id and coupon.status == "available"
        coupon_id = coupon.id
        game_id = make_game("Celeste", price=20000)
    run_jobs(app)
    assert "Launch drop" in browser.get("/coupons/mine").get_data(as_text=True)
    browser.post(f"/cart/{game_id}")
    res = browser.post("/checkout", {"coupon": coupon_id})
    assert res.status_code == 302
    with app.app_context():
        from shop.orders.models import Order

        order = db.session.scalar(select(Order))
        assert order.total == 17000 and order.discount == 3000
        assert db.session.get(Coupon, coupon_id).status == "reserved"


def test_checkout_page_offers_wallet_coupons_and_points_and_reprices(app, browser, make_user):
    from shop.loyalty import points

    event_id = _event(app, quantity=5, discount_value=2000)
    buyer = make_user()
    browser.login(buyer.email)
    browser.post(f"/coupons/{event_id}/claim", headers={"Accept": "application/json"})
    with app.app_context():
        drain_event(event_id)
        coupon_id = db.session.scalar(select(Coupon.id))
        points.earn(buyer.id, 3000, "earn_grade", "test:checkout-page")
        db.session.commit()
        game_id = make_game("Dead Cells", price=20000)
    run_jobs(app)
    browser.post(f"/cart/{game_id}")
    page = browser.get("/checkout").get_data(as_text=True)
    assert f'<option value="{coupon_id}"' in page and "3,000 P available" in page
    priced = browser.get(f"/checkout?coupon={coupon_id}&points=1000", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "₩17,000" in priced and "Pay ₩17,000" in priced
