"""Adding to the cart straight from the /games list."""
from ..support.browser import run_jobs
from ..support.catalog import make_game


def test_browse_list_has_cart_buttons_with_the_viewers_state(app, browser, make_user):
    with app.app_context():
        first = make_game("Into the Breach", price=16000)
        second = make_game("Loop Hero", price=15000)
    run_jobs(app)
    page = browser.get("/games").get_data(as_text=True)
    assert f'id="cart-control-{first}"' in page and page.count("Add to cart") >= 2
    browser.login(make_user().email)
    res = browser.post(f"/cart/{first}", {"next": "/games"}, htmx=True)
    assert "In cart" in res.get_data(as_text=True)
    page = browser.get("/games", headers={"HX-Request": "true"}).get_data(as_text=True)
    first_control = page.split(f'id="cart-control-{first}"')[1].split("</div>")[0]
    second_control = page.split(f'id="cart-control-{second}"')[1].split("</div>")[0]
    assert "In cart" in first_control and "Add to cart" in second_control
