""""Sign out of all devices" on the account page."""
from shop.accounts.models import User
from shop.extensions import db


def test_signing_out_everywhere_kills_every_session_and_remember_cookie(app, browser, make_user):
    user = make_user()
    phone = type(browser)(app)
    phone.login(user.email, remember=True)
    browser.login(user.email)
    with app.app_context():
        token_before = db.session.get(User, user.id).session_token
    assert "Sign out of all devices" in browser.get("/account").get_data(as_text=True)
    res = browser.post("/account/sessions/revoke", {})
    assert res.status_code == 302 and res.headers["Location"].endswith("/login")
    assert phone.current_nickname() is None      # the other device, remember cookie included
    assert browser.current_nickname() is None
    with app.app_context():
        assert db.session.get(User, user.id).session_token != token_before
    assert browser.login(user.email).status_code == 302  # the password still works


def test_sign_out_everywhere_needs_a_login_and_the_csrf_token(app, browser, client, make_user):
    user = make_user()
    anonymous = client.post("/account/sessions/revoke")
    assert anonymous.status_code in (302, 400)
    browser.login(user.email)
    with app.app_context():
        token_before = db.session.get(User, user.id).session_token
    forged = browser.client.post("/account/sessions/revoke", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    with app.app_context():
        assert db.session.get(User, user.id).session_token == token_before
    assert browser.current_nickname() == user.nickname
