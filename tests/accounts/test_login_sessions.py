"""Login sessions (shop/accounts/sessions.py): one record per login, listed on the
account page with "End this one"; rotating the session token ends them all."""
import re
import time
from urllib.parse import urlsplit

import pytest

from shop.accounts import sessions
from shop.accounts.models import User
from shop.extensions import db

from ..catalog.test_rankings import redis_down_app
from ..support.browser import Browser

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
NEW_PASSWORD = "another long passphrase 2"


def device(app, user_agent, ip) -> Browser:
    b = Browser(app)
    b.client.environ_base.update(REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent)
    return b


def logins_on_page(browser) -> list[str]:
    """The login ids the account page offers to end."""
    return re.findall(r'data-login="([^"]+)"', browser.get("/account").get_data(as_text=True))


def this_login(app, browser) -> str:
    with browser.client.session_transaction() as s:
        return s["_user_id"].split(":")[2]


def records(redis, user_id) -> set[str]:
    return {k.rsplit(":", 1)[1] for k in redis.scan_iter(f"login:{{{user_id}}}:*")}


def test_the_account_page_lists_each_login_with_device_last_seen_and_network(app, make_user):
    user = make_user()
    pc = device(app, FIREFOX_WINDOWS, "203.0.113.77")
    phone = device(app, SAFARI_IPHONE, "2001:db8:1234:5678::9")
    pc.login(user.email)
    phone.login(user.email, remember=True)
    page = pc.get("/account").get_data(as_text=True)
    rows = re.findall(r'<tr data-login="[^"]+">(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    by_device = {("Firefox on Windows" if "Firefox on Windows" in r else "Safari on iPhone"): r for r in rows}
    assert "this device" in by_device["Firefox on Windows"] and "this device" not in by_device["Safari on iPhone"]
    assert "203.0.113.0/24" in by_device["Firefox on Windows"] and "203.0.113.77" not in page
    assert "2001:db8:1234::/48" in by_device["Safari on iPhone"]
    assert "kept logged in" in by_device["Safari on iPhone"]
    now_kst = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 9 * 3600))
    assert re.search(rf"<td>{now_kst} \d\d:\d\d</td>", by_device["Safari on iPhone"])  # last seen, in KST


@pytest.mark.parametrize("ua,label", [
    (FIREFOX_WINDOWS, "Firefox on Windows"),
    (SAFARI_IPHONE, "Safari on iPhone"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
     "Chrome on Linux"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
     "Safari/537.36 Edg/126.0", "Edge on Windows"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/25.0 Chrome/121.0 Mobile Safari/537.36", "Samsung Internet on Android"),
    ("curl/8.5.0", "Unknown device"),
    ("", "Unknown device"),
])
def test_device_labels(ua, label):
    assert sessions.device_label(ua) == label


@pytest.mark.parametrize("address,network", [
    ("198.51.100.200", "198.51.100.0/24"), ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
    ("::ffff:192.0.2.9", "192.0.2.0/24"), ("not an address", ""), (None, ""),
])
def test_addresses_are_kept_coarse(address, network):
    assert sessions.coarse_ip(address) == network


def test_end_this_one_ends_that_login_and_every_copy_of_it(app, make_user):
    user = make_user()
    pc = device(app, FIREFOX_WINDOWS, "203.0.113.7")
    phone = device(app, SAFARI_IPHONE, "198.51.100.9")
    pc.login(user.email)
    phone.login(user.email, remember=True)
    copy = Browser(app)
    copy.client.set_cookie("remember_token", phone.client.get_cookie("remember_token").value)
    res = pc.post(f"/account/sessions/{this_login(app, phone)}/end")
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    assert "That device is signed out." in pc.get("/account").get_data(as_text=True)
    assert phone.current_nickname() is None and copy.current_nickname() is None
    assert pc.current_nickname() == user.nickname
    assert logins_on_page(pc) == [this_login(app, pc)]


def test_ending_this_device_from_the_list_logs_it_out(app, browser, make_user):
    user = make_user()
    browser.login(user.email, remember=True)
    res = browser.post(f"/account/sessions/{this_login(app, browser)}/end")
    assert res.status_code == 302 and res.headers["Location"] == "/login"
    assert browser.client.get_cookie("remember_token") is None
    assert browser.current_nickname() is None


def test_only_your_own_logins_can_be_ended(app, redis, make_user):
    alice, bob = make_user(nickname="Alice"), make_user(nickname="Bobby")
    a, b = Browser(app), Browser(app)
    a.login(alice.email)
    b.login(bob.email)
    bobs = this_login(app, b)
    res = a.post(f"/account/sessions/{bobs}/end")  # Alice names Bob's login
    assert res.status_code == 404
    assert "That session has already ended, or it is not one of yours." in res.get_data(as_text=True)
    assert b.current_nickname() == "Bobby" and records(redis, bob.id) == {bobs}
    assert bobs not in a.get("/account").get_data(as_text=True)  # nor does she see it


def test_end_this_one_needs_a_login_the_csrf_token_and_a_well_formed_id(app, client, make_user):
    user = make_user()
    pc, phone = Browser(app), Browser(app)
    pc.login(user.email)
    phone.login(user.email)
    target = this_login(app, phone)
    anonymous = client.post(f"/account/sessions/{target}/end")
    assert anonymous.status_code in (302, 400)
    forged = pc.client.post(f"/account/sessions/{target}/end", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    missing = pc.client.post(f"/account/sessions/{target}/end")
    assert missing.status_code == 400
    assert pc.get(f"/account/sessions/{target}/end").status_code == 405
    for bad in ("x" * 23, "short", "a" * 21 + "!", "%C2%B2" * 11):
        assert pc.post(f"/account/sessions/{bad}/end").status_code == 404
    assert phone.current_nickname() == user.nickname


def test_sign_out_of_all_devices_ends_every_record(app, redis, make_user):
    user = make_user()
    pc, phone = Browser(app), Browser(app)
    phone.login(user.email, remember=True)
    pc.login(user.email)
    assert len(records(redis, user.id)) == 2
    pc.post("/account/sessions/revoke")
    assert records(redis, user.id) == set()
    assert phone.current_nickname() is None and pc.current_nickname() is None


@pytest.mark.parametrize("how", ["password change", "password reset"])
def test_a_password_change_or_reset_ends_every_other_login(app, redis, outbox, make_user, how):
    user = make_user()
    pc, phone = Browser(app), Browser(app)
    phone.login(user.email, remember=True)
    pc.login(user.email)
    copies = [Browser(app), Browser(app)]
    copies[0].client.set_cookie("session", phone.client.get_cookie("session").value)
    copies[1].client.set_cookie("remember_token", phone.client.get_cookie("remember_token").value)
    if how == "password change":
        res = pc.post("/account/password", {"current": user.password, "password": NEW_PASSWORD,
                                            "confirm": NEW_PASSWORD})
    else:
        pc.post("/password/forgot", {"email": user.email})
        link = outbox.last_link(user.email)
        res = Browser(app).post(urlsplit(link).path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert res.status_code == 302
    assert records(redis, user.id) == set()
    for b in (pc, phone, *copies):
        assert b.current_nickname() is None
    assert pc.login(user.email, NEW_PASSWORD).status_code == 302
    assert len(records(redis, user.id)) == 1


def test_last_seen_is_written_at_most_once_a_minute(app, browser, redis, make_user):
    user = make_user()
    browser.login(user.email)
    key = sessions.record_key(user.id, this_login(app, browser))
    redis.hset(key, "seen", int(time.time()) - 30)  # seen half a minute ago
    redis.expire(key, 100)
    before = redis.hgetall(key)
    for _ in range(3):
        assert browser.get("/account").status_code == 200
    assert redis.hgetall(key) == before and redis.ttl(key) <= 100  # not written again
    redis.hset(key, mapping={"seen": int(time.time()) - 61, "ip": "stale"})
    assert browser.get("/account").status_code == 200
    after = redis.hgetall(key)
    assert int(after["seen"]) >= int(time.time()) - 2 and after["ip"] == "127.0.0.0/24"
    assert redis.ttl(key) > 100  # the idle expiry moved on with it


def test_a_login_unused_for_the_idle_period_ends(app, browser, redis, make_user):
    user = make_user()
    browser.login(user.email, remember=True)
    redis.delete(sessions.record_key(user.id, this_login(app, browser)))  # what expiry does
    assert browser.current_nickname() is None


def test_past_the_cap_a_new_login_ends_the_oldest(app, redis, make_user, monkeypatch):
    monkeypatch.setattr(sessions, "MAX_PER_USER", 2)
    user = make_user()
    first, second, third = Browser(app), Browser(app), Browser(app)
    for b in (first, second, third):
        b.login(user.email)
    assert first.current_nickname() is None
    assert second.current_nickname() == third.current_nickname() == user.nickname
    assert len(records(redis, user.id)) == 2


def test_a_cookie_without_a_login_record_logs_nobody_in(app, browser, make_user):
    """An identity of the older "<id>:<token>" form, or naming a login that never
    existed, is not a login."""
    user = make_user()
    with app.app_context():
        token = db.session.get(User, user.id).session_token
    for forged in (f"{user.id}:{token}", f"{user.id}:{token}:{'A' * 22}", f"{user.id}:{token}:x:y"):
        with browser.client.session_transaction() as s:
            s["_user_id"] = forged
        assert browser.get("/account").status_code == 302, forged


# --- Redis down: never a 500 ----------------------------------------------------------------

def test_with_redis_down_logins_go_on_new_ones_wait_and_nothing_is_a_500(app, make_user):
    """The record cannot be read: the signed cookie and the token decide (a login goes
    on, a rotated token is still refused); logging in answers 503 (no record can be made)."""
    user, rotated = make_user(), make_user()
    pc, old = Browser(app), Browser(app)
    pc.login(user.email)
    old.login(rotated.email)
    with app.app_context():
        db.session.get(User, rotated.id).rotate_session_token()
        db.session.commit()
    with redis_down_app(app) as broken:
        down, stale = Browser(broken), Browser(broken)
        down.client.set_cookie("session", pc.client.get_cookie("session").value)
        stale.client.set_cookie("session", old.client.get_cookie("session").value)
        assert down.current_nickname() == user.nickname
        assert stale.get("/account").status_code == 302  # signed out everywhere before: still out
        fresh = Browser(broken)
        page = fresh.get("/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        res = fresh.client.post("/login", data={"email": user.email, "password": user.password,
                                                "csrf_token": token})
        assert res.status_code == 503
    assert pc.current_nickname() == user.nickname  # Redis is back: the login lives on


def test_logging_out_while_redis_is_down_ends_every_login(app, redis, make_user):
    """A log-out must never leave a working copy behind: if the login's record cannot be
    deleted, the account's session token is rotated instead."""
    user = make_user()
    pc, phone = Browser(app), Browser(app)
    pc.login(user.email)
    phone.login(user.email)
    copy = Browser(app)
    copy.client.set_cookie("session", pc.client.get_cookie("session").value)
    token = pc.csrf_token()
    with redis_down_app(app) as broken:
        down = broken.test_client()
        down.set_cookie("session", pc.client.get_cookie("session").value)
        res = down.post("/logout", data={"csrf_token": token})
        assert res.status_code == 302
    assert copy.current_nickname() is None and phone.current_nickname() is None
