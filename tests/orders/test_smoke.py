"""The whole purchase with the sandbox gateway, as a buyer clicks through it."""

from sqlalchemy import select

from shop.orders.models import Order
from shop.library.models import LibraryEntry

from ..support.browser import run_jobs
from ..support.catalog import make_game


def test_buy_a_game_with_the_sandbox(app, browser, make_user, outbox):
    buyer = make_user()
    with app.app_context():
        game_id = make_game("Hades", price=24000)
    run_jobs(app)
    browser.login(buyer.email)
    res = browser.post(f"/cart/{game_id}", htmx=True)
    assert res.status_code == 200
    body = res.get_data(as_text=True)
    assert "In cart" in body and 'id="cart-badge"' in body and 'hx-swap-oob="true"' in body
    res = browser.post("/checkout")
    assert res.status_code == 302 and "/sandbox/pay/" in res.headers["Location"]
    pay_page = res.headers["Location"]
    res = browser.post(pay_page, {"action": "approve"})
    success = res.headers["Location"]
    assert "paymentKey=" in success and "amount=24000" in success
    res = browser.get(success)
    assert res.status_code == 302 and "/orders/" in res.headers["Location"]
    assert browser.get(success).status_code == 302  # refresh: idempotent
    with app.app_context():
        orders = list(app.extensions["sqlalchemy"].session.scalars(select(Order)))
        assert [o.status for o in orders] == ["PAID"]
        assert app.extensions["sqlalchemy"].session.scalar(
            select(LibraryEntry).where(LibraryEntry.user_id == buyer.id)).game_id == game_id
    assert "Hades" in browser.get("/library").get_data(as_text=True)
    msgs = outbox.deliver()
    receipt = [m for m in msgs if "receipt" in m["subject"]]
    assert receipt and "₩24,000" in receipt[0]["text"]
