"""The Redis copy of session facts used by the claim path stays honest."""
from shop.accounts.models import User
from shop.extensions import db


def _claim_json(browser, event_id=999_999):
    return browser.post(f"/coupons/{event_id}/claim", headers={"Accept": "application/json"})


def test_changed_user_leaves_a_tombstone_and_old_sessions_die(app, browser, make_user, redis):
    user = make_user()
    browser.login(user.email)
    assert _claim_json(browser).status_code != 401  # the copy is filled
    assert redis.get(f"auth:user:{user.id}").count("|") == 2
    with app.app_context():
        db.session.get(User, user.id).rotate_session_token()
        db.session.commit()
    assert redis.get(f"auth:user:{user.id}") == "!"
    assert _claim_json(browser).status_code == 401  # the old session is refused at once


def test_a_racing_stale_fill_cannot_overwrite_the_tombstone(app, browser, make_user, redis):
    user = make_user()
    browser.login(user.email)
    redis.set(f"auth:user:{user.id}", "!", ex=30)  # a change just happened
    _claim_json(browser)
    assert redis.get(f"auth:user:{user.id}") == "!"  # not replaced by a fill
