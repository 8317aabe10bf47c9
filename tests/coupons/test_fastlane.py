"""The claim's fast lane (shop/coupons/fastlane.py) against the Flask view it stands in
front of: for every outcome the same status, body and headers, whichever answers; and
every case the lane must not answer (no session, bad CSRF, refused sessions, unknown
events) handed to Flask before anything is counted. Users log in through the real
login form, so their sessions are what Flask-Login writes."""
import re
import time
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from shop.accounts.models import User
from shop.coupons import services
from shop.coupons.fastlane import ClaimFastLane
from shop.coupons.redis_state import keys
from shop.extensions import db
from shop.timeutil import utcnow

from ..support.browser import Browser

JSON = {"Accept": "application/json"}
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/coupons"}
REQUEST_ID = "fastlane-test-0001"  # echoed by both, so headers compare whole
SIGNED = re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{20,}")  # a signed CSRF token
TOKEN_IN_FORM = re.compile(r'name="csrf_token" value="([^"]+)"')


class Paths:
    """Send a request through the fast lane (asserting it answered, or that it handed the
    request to Flask) or straight to Flask, as the app runs without the lane."""

    def __init__(self, app, monkeypatch):
        self.app, self.monkeypatch = app, monkeypatch
        self.lane = app.wsgi_app
        assert isinstance(self.lane, ClaimFastLane)
        self.flask_calls = 0
        inner = self.lane.inner

        def counting(environ, start_response):
            self.flask_calls += 1
            return inner(environ, start_response)

        monkeypatch.setattr(self.lane, "inner", counting)

    def fast(self, send):
        before = self.flask_calls
        res = send()
        assert self.flask_calls == before, "the fast lane handed this claim to Flask"
        return res

    def handed(self, send):
        before = self.flask_calls
        res = send()
        assert self.flask_calls == before + 1, "the fast lane answered a claim it must leave to Flask"
        return res

    def flask(self, send):
        self.monkeypatch.setattr(self.app, "wsgi_app", self.lane.inner)
        try:
            return send()
        finally:
            self.monkeypatch.setattr(self.app, "wsgi_app", self.lane)


@pytest.fixture
def paths(app, monkeypatch):
    return Paths(app, monkeypatch)


class User_:
    """A user logged in through /login, pressing Claim like the page does."""

    def __init__(self, app, user, ip="127.0.0.1"):
        self.user = user
        self.browser = Browser(app)
        self.browser.client.environ_base["REMOTE_ADDR"] = ip
        res = self.browser.login(user.email)
        assert res.status_code == 302, res.get_data(as_text=True)[:300]
        self.token = self.browser.csrf_token()

    def claim(self, event_id, htmx=False, json=True, data=None, headers=None):
        h = {"X-Request-ID": REQUEST_ID}
        h.update(HTMX if htmx else {})
        h.update(JSON if json else {})
        h.update(headers or {})
        return self.browser.client.post(f"/coupons/{event_id}/claim",
                                        data={"csrf_token": self.token} if data is None else data, headers=h)


def logged_in(app, make_users, n=2, verified=True, ip=lambda k: f"198.51.100.{k + 1}"):
    return [User_(app, u, ip(k)) for k, u in enumerate(make_users(n, verified=verified))]


def same(a, b, normalise=lambda html: html):
    """Same status, body and headers (the test client adds none of its own)."""
    assert a.status_code == b.status_code
    assert normalise(a.get_data(as_text=True)) == normalise(b.get_data(as_text=True))
    assert sorted(a.headers.items()) == sorted(b.headers.items())


def _set_cookie(res):
    return res.headers.get("Set-Cookie")


# --- the lane is on, and answers every outcome as the view does --------------------------------

def test_lane_is_installed_and_knows_every_hook(app, paths, open_event, make_users):
    """A hook added to the app that the lane doesn't reproduce switches it off; this test
    then fails, so whoever added the hook teaches the lane about it."""
    (a,) = logged_in(app, make_users, 1)
    paths.fast(lambda: a.claim(open_event()))
    assert paths.lane.enabled and paths.lane._unknown_hooks() == []


@pytest.mark.parametrize("htmx", [False, True], ids=["json", "htmx"])
def test_claimed_and_already_claimed(app, paths, open_event, make_users, redis, htmx):
    a, b = logged_in(app, make_users)
    event_id = open_event(quantity=5)
    first = paths.fast(lambda: a.claim(event_id, htmx=htmx, json=not htmx))
    same(first, paths.flask(lambda: b.claim(event_id, htmx=htmx, json=not htmx)))
    if htmx:
        html = first.get_data(as_text=True)
        assert first.mimetype == "text/html" and f'id="claim-{event_id}"' in html and "outcome-claimed" in html
        assert "Open your wallet" in html and first.headers["Vary"] == "HX-Request, Cookie"
    else:
        assert first.get_json() == {"outcome": "claimed", "message": "Got it! The coupon is in your wallet."}
    assert first.headers["X-Request-ID"] == REQUEST_ID and _set_cookie(first) is None
    again = paths.fast(lambda: a.claim(event_id, htmx=htmx, json=not htmx))
    same(again, paths.flask(lambda: b.claim(event_id, htmx=htmx, json=not htmx)))
    assert "already" in again.get_data(as_text=True).lower() or "You already have" in again.get_data(as_text=True)
    k = keys(event_id)
    assert {int(u) for u in redis.smembers(k["claimed"])} == {a.user.id, b.user.id}
    assert int(redis.get(k["stock"])) == 3 and redis.xlen(k["stream"]) == 2


@pytest.mark.parametrize("htmx", [False, True], ids=["json", "htmx"])
def test_sold_out_not_open_and_closed(app, paths, open_event, make_users, htmx):
    a, b, c = logged_in(app, make_users, 3)
    sold = open_event(quantity=1)
    with app.app_context():
        assert services.claim(sold, c.user.id) == "claimed"
    upcoming = open_event(opens_at=utcnow() + timedelta(minutes=5), closes_at=utcnow() + timedelta(hours=1))
    ended = open_event(opens_at=utcnow() - timedelta(hours=2), closes_at=utcnow() - timedelta(seconds=1))
    for event_id, outcome in [(sold, "sold_out"), (sold, "sold_out"), (upcoming, "not_open"), (ended, "closed")]:
        services._forget_sold_out(event_id)  # the first sold_out of each pair comes from the Lua script
        fast = paths.fast(lambda: a.claim(event_id, htmx=htmx, json=not htmx))
        services._forget_sold_out(event_id)
        same(fast, paths.flask(lambda: b.claim(event_id, htmx=htmx, json=not htmx)))
        assert fast.status_code == 200 and f"outcome-{outcome}" in fast.get_data(as_text=True) if htmx else \
            fast.get_json()["outcome"] == outcome
    # with the local flag set, the lane answers without Redis, before the session check
    assert services.sold_out_cached(sold) or paths.fast(lambda: a.claim(sold)).get_json()["outcome"] == "sold_out"
    same(paths.fast(lambda: a.claim(sold)), paths.flask(lambda: b.claim(sold)))


def test_unverified_user_gets_403_from_both(app, paths, open_event, make_users, redis):
    a, b = logged_in(app, make_users, verified=False)
    event_id = open_event()
    for kw in ({}, {"htmx": True, "json": False}):
        fast = paths.fast(lambda: a.claim(event_id, **kw))
        same(fast, paths.flask(lambda: b.claim(event_id, **kw)))
        assert fast.status_code == 403 and "Verify your email" in fast.get_data(as_text=True)
    assert redis.scard(keys(event_id)["claimed"]) == 0


@pytest.mark.parametrize("htmx", [False, True], ids=["json", "htmx"])
def test_rate_limited_gets_429_from_both(app, paths, open_event, make_users, htmx):
    a, b = logged_in(app, make_users)
    event_id = open_event()
    kw = {"htmx": htmx, "json": not htmx}
    for _ in range(5):
        paths.fast(lambda: a.claim(event_id, **kw))
        paths.flask(lambda: b.claim(event_id, **kw))
    fast = paths.fast(lambda: a.claim(event_id, **kw))
    slow = paths.flask(lambda: b.claim(event_id, **kw))
    assert fast.status_code == 429
    same(fast, slow, normalise=lambda html: TOKEN_IN_FORM.sub("TOKEN", html))
    if htmx:
        # the "Try again" button carries a token of the user's own session that works
        html = fast.get_data(as_text=True)
        assert "Try again</button>" in html
        a.token = TOKEN_IN_FORM.search(html).group(1)
        time.sleep(1.05)
        assert paths.fast(lambda: a.claim(event_id)).get_json()["outcome"] == "already_claimed"


def test_csrf_token_in_the_header_only(app, paths, open_event, make_users):
    """htmx's hx-headers: no form body, the token in X-CSRFToken (or X-CSRF-Token)."""
    a, b = logged_in(app, make_users)
    event_id = open_event()
    fast = paths.fast(lambda: a.claim(event_id, data={}, headers={"X-CSRFToken": a.token}))
    same(fast, paths.flask(lambda: b.claim(event_id, data={}, headers={"X-CSRFToken": b.token})))
    assert fast.get_json()["outcome"] == "claimed"
    assert paths.fast(lambda: a.claim(event_id, data={}, headers={"X-CSRF-Token": a.token})).get_json()[
        "outcome"] == "already_claimed"


# --- what the lane leaves to Flask ----------------------------------------------------------

def test_unknown_event_is_404_from_both(app, paths, make_users, redis):
    a, b = logged_in(app, make_users)
    for kw in ({}, {"htmx": True, "json": False}):
        fast = paths.handed(lambda: a.claim(987654, **kw))
        # the full error page carries each session's own CSRF token (hx-headers) and nickname
        same(fast, paths.flask(lambda: b.claim(987654, **kw)), normalise=lambda html: re.sub(r"Claimer\d+", "C", SIGNED.sub("T", html)))
        assert fast.status_code == 404
    assert paths.handed(lambda: a.claim(987654)).get_json()["error"] == "Page not found"
    assert redis.keys("coupon:{987654}*") == []  # nothing counted, nothing created


def test_anonymous_visitors_are_left_to_flask(app, paths, open_event, redis):
    event_id = open_event()
    anon = Browser(app)
    token = anon.csrf_token()  # a session with a CSRF token but no user
    for headers, status in [(JSON, 401), ({"HX-Request": "true"}, 200), ({}, 302)]:
        res = paths.handed(lambda: anon.client.post(f"/coupons/{event_id}/claim", data={"csrf_token": token},
                                                      headers=headers))
        assert res.status_code == status
    bare = app.test_client()  # no cookie at all
    assert paths.handed(lambda: bare.post(f"/coupons/{event_id}/claim", headers=JSON)).status_code == 400
    assert redis.scard(keys(event_id)["claimed"]) == 0


def _token_signed_with(secret, raw, signer=TimestampSigner):
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token", signer=signer).dumps(raw)


class _HourOld(TimestampSigner):
    def get_timestamp(self):
        return int(time.time()) - 3600


def test_bad_csrf_tokens_get_the_same_400(app, paths, open_event, make_users, monkeypatch, redis):
    a, b = logged_in(app, make_users)
    event_id = open_event()
    with a.browser.client.session_transaction() as s:
        raw_a = s["csrf_token"]
    with b.browser.client.session_transaction() as s:
        raw_b = s["csrf_token"]
    cases = {
        "missing": ({}, {}),
        "empty": ({"csrf_token": ""}, {"csrf_token": ""}),
        "forged": ({"csrf_token": _token_signed_with("not-the-secret", raw_a)},
                   {"csrf_token": _token_signed_with("not-the-secret", raw_b)}),
        "another session's": ({"csrf_token": b.token}, {"csrf_token": a.token}),
        "garbage": ({"csrf_token": "abc.def"}, {"csrf_token": "abc.def"}),
    }
    for name, (data_a, data_b) in cases.items():
        fast = paths.handed(lambda: a.claim(event_id, data=data_a))
        same(fast, paths.flask(lambda: b.claim(event_id, data=data_b)))
        assert fast.status_code == 400, name
    monkeypatch.setitem(app.config, "WTF_CSRF_TIME_LIMIT", 600)
    old_a, old_b = (_token_signed_with(app.secret_key, raw, _HourOld) for raw in (raw_a, raw_b))
    fast = paths.handed(lambda: a.claim(event_id, data={"csrf_token": old_a}))
    same(fast, paths.flask(lambda: b.claim(event_id, data={"csrf_token": old_b})))
    assert fast.status_code == 400
    assert redis.scard(keys(event_id)["claimed"]) == 0


def _change_user(app, user_id, **fields):
    with app.app_context():
        user = db.session.get(User, user_id)
        for name, value in fields.items():
            setattr(user, name, value)
        db.session.commit()


@pytest.mark.parametrize("change", ["suspended", "logged_out_everywhere", "withdrawn"])
def test_refused_sessions_are_left_to_flask(app, paths, open_event, make_users, redis, change):
    """A suspended user, or one who logged out everywhere (new session token), can't claim
    through either path, whether Redis holds the new values or a tombstone."""
    a, b = logged_in(app, make_users)
    event_id = open_event()
    assert paths.fast(lambda: a.claim(event_id)).get_json()["outcome"] == "claimed"  # the copy is warm
    for who in (a, b):
        if change == "suspended":
            _change_user(app, who.user.id, suspended_at=utcnow())
        elif change == "withdrawn":
            _change_user(app, who.user.id, status="withdrawn", withdrawn_at=utcnow())
        else:
            with app.app_context():
                db.session.get(User, who.user.id).rotate_session_token()
                db.session.commit()
    assert redis.get(f"auth:user:{a.user.id}") == "!"  # the change left a tombstone
    fast = paths.handed(lambda: a.claim(event_id))  # the lane read the row: refused
    same(fast, paths.flask(lambda: b.claim(event_id)))
    assert fast.status_code == 401 and fast.get_json()["outcome"] == "login_required"
    redis.delete(f"auth:user:{a.user.id}", f"auth:user:{b.user.id}")  # the tombstone expired
    paths.handed(lambda: a.claim(event_id))
    paths.flask(lambda: b.claim(event_id))
    # (after "logged out everywhere" the logins' records are gone: the copy isn't even read)
    assert change == "logged_out_everywhere" or redis.get(f"auth:user:{a.user.id}").endswith("|0")
    fast = paths.handed(lambda: a.claim(event_id))
    same(fast, paths.flask(lambda: b.claim(event_id)))
    assert fast.status_code == 401
    assert {int(u) for u in redis.smembers(keys(event_id)["claimed"])} == {a.user.id}


def test_a_cookie_copy_taken_before_log_out_claims_nothing(app, paths, open_event, make_users, redis):
    """The lane honours the login's record: once the owner logs out, a copy of the
    session cookie is handed to Flask, which refuses it too; nothing is counted."""
    a, b = logged_in(app, make_users)
    event_id = open_event(quantity=5)
    copies = []
    for who in (a, b):
        copy = Browser(app)
        copy.client.set_cookie("session", who.browser.client.get_cookie("session").value)
        copy.client.environ_base["REMOTE_ADDR"] = who.browser.client.environ_base["REMOTE_ADDR"]
        copies.append(copy)
        who.browser.logout()

    def claim(copy, token):
        return copy.client.post(f"/coupons/{event_id}/claim", data={"csrf_token": token},
                                headers={**JSON, "X-Request-ID": REQUEST_ID})

    fast = paths.handed(lambda: claim(copies[0], a.token))
    same(fast, paths.flask(lambda: claim(copies[1], b.token)))
    assert fast.status_code == 401 and fast.get_json()["outcome"] == "login_required"
    k = keys(event_id)
    assert redis.smembers(k["claimed"]) == set() and int(redis.get(k["stock"])) == 5


def test_unusual_requests_are_left_to_flask(app, paths, open_event, make_users):
    a, b = logged_in(app, make_users)
    event_id = open_event(quantity=10)
    # a body with more than the token, a query string, another content type, a second session cookie
    paths.handed(lambda: a.claim(event_id, data={"csrf_token": a.token, "x": "1"}))
    paths.handed(lambda: a.browser.client.post(f"/coupons/{event_id}/claim?x=1", data={"csrf_token": a.token},
                                                 headers=JSON))
    res = paths.handed(lambda: a.browser.client.post(f"/coupons/{event_id}/claim", json={"csrf_token": a.token},
                                                       headers={**JSON, "X-CSRFToken": a.token}))
    assert res.status_code == 200 and res.get_json()["outcome"] == "already_claimed"
    paths.handed(lambda: a.browser.client.post(f"/coupons/0{event_id}/claim", data={"csrf_token": a.token},
                                                 headers=JSON))
    # a session from another address/browser (Flask-Login marks it not fresh: a cookie change)
    res = paths.handed(lambda: a.claim(event_id, headers={"User-Agent": "another browser"}))
    assert res.status_code == 200
    # GET and other paths never enter the lane
    paths.handed(lambda: a.browser.client.get(f"/coupons/{event_id}"))


def test_lost_redis_state_is_rebuilt_through_flask(app, paths, open_event, make_users, redis):
    """Redis lost the event's keys: the lane's Lua call answers not_ready, which counts
    nothing, and services.claim rebuilds the state from the database before answering."""
    a, b = logged_in(app, make_users)
    event_id = open_event(quantity=3)
    k = keys(event_id)
    redis.delete(k["meta"], k["stock"], k["claimed"], k["stream"])
    assert paths.fast(lambda: a.claim(event_id)).get_json()["outcome"] == "claimed"
    assert int(redis.get(k["stock"])) == 2


def test_proxy_fix_wraps_the_lane(app):
    """With TRUSTED_PROXIES the lane sits inside ProxyFix, so its per-IP limit and the
    session identity see the client address ProxyFix works out."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from shop import create_app
    from shop.config import TestingConfig

    other = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                       REDIS_URL=app.config["REDIS_URL"], TRUSTED_PROXIES=1)
    assert isinstance(other.wsgi_app, ProxyFix) and isinstance(other.wsgi_app.app, ClaimFastLane)
    off = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                     REDIS_URL=app.config["REDIS_URL"], COUPON_FAST_LANE=False)
    assert not isinstance(off.wsgi_app, ClaimFastLane)


def test_identity_matches_flask_login(app):
    """The lane's copy of Flask-Login's session identifier gives the same digest."""
    import hashlib

    from shop.extensions import login_manager

    for addr, agent, forwarded in [("127.0.0.1", "Mozilla/5.0 (X11) Firefox/130.0", None),
                                   ("10.0.0.1", None, "203.0.113.5, 10.0.0.1"), ("::1", "ümlaut-agent", None)]:
        environ = {"REMOTE_ADDR": addr}
        if agent is not None:
            environ["HTTP_USER_AGENT"] = agent.encode().decode("latin-1")
        if forwarded:
            environ["HTTP_X_FORWARDED_FOR"] = forwarded
        with app.test_request_context("/", environ_base=environ):
            expected = login_manager._session_identifier_generator()
        lane = app.wsgi_app
        assert lane._identity_ok(dict(environ), {"_id": expected}, app.config)
        assert not lane._identity_ok(dict(environ), {"_id": hashlib.sha512(b"x").hexdigest()}, app.config)


def test_a_cold_auth_copy_is_read_from_the_database_and_kept(app, paths, open_event, make_users, redis):
    (a,) = logged_in(app, make_users, 1)
    event_id = open_event()
    redis.delete(f"auth:user:{a.user.id}")
    assert paths.fast(lambda: a.claim(event_id)).get_json()["outcome"] == "claimed"
    assert redis.get(f"auth:user:{a.user.id}").endswith("|1|1")
