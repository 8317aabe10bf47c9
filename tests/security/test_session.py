"""Login redirects, session fixation and replay, cookie flags, rate limits."""
from urllib.parse import quote, urlsplit

import pytest

from shop import create_app
from shop.config import ProductionConfig, TestingConfig

from .conftest import Actor

PASSWORD = "a long passphrase 1"
EVIL_NEXT = ["//evil.example", "/\\evil.example", "https://evil.example", "http://evil.example/login",
             "javascript:alert(1)", "%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil.example",
             "/%5C%5Cevil.example", "\\\\evil.example", "/\\/evil.example", " //evil.example",
             "\t//evil.example", "/\r\n//evil.example", "///evil.example", "https:evil.example",
             "//evil.example@localhost", "data:text/html,<script>alert(1)</script>", "/" + "a" * 600]


def _stays_on_site(location: str) -> bool:
    parts = urlsplit(location)
    return (not parts.scheme and not parts.netloc and location.startswith("/")
            and not location.startswith(("//", "/\\")) and "\\" not in location)


@pytest.mark.parametrize("target", EVIL_NEXT)
def test_login_next_never_leaves_the_site(app, make_user, target):
    user = make_user()
    actor = Actor(app)
    res = actor.post(f"/login?next={quote(target, safe='')}", {"email": user.email, "password": PASSWORD})
    assert res.status_code == 302
    assert _stays_on_site(res.headers["Location"]), res.headers["Location"]
    # and the already-logged-in shortcut of GET /login?next=... too
    res = actor.get(f"/login?next={quote(target, safe='')}")
    assert res.status_code == 302 and _stays_on_site(res.headers["Location"]), res.headers["Location"]


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example"])
def test_other_next_parameters_stay_on_site(app, world, actors, target):
    res = actors["customer_a"].post(f"/cart/{world.game_b}", {"next": target})
    assert res.status_code == 302 and _stays_on_site(res.headers["Location"])
    res = actors["publisher_a"].post(f"/publisher/games/{world.game_a}/delist", {"next": target})
    assert res.status_code == 302 and _stays_on_site(res.headers["Location"])
    res = actors["customer_a"].get(f"/verify?next={quote(target, safe='')}")
    assert res.status_code == 302 and _stays_on_site(res.headers["Location"])


def test_a_planted_session_does_not_survive_login(app, make_user):
    """Session fixation: whatever the cookie held before login (another user's identity,
    a CSRF secret the attacker knows, any marker) is gone afterwards."""
    victim, attacker = make_user(), make_user()
    actor = Actor(app)
    with actor.client.session_transaction() as s:
        s["planted"] = "by attacker"
        s["_user_id"] = f"{attacker.id}:not-the-token"  # a forged identity is simply not logged in
        planted_csrf = s["csrf_token"]
    assert actor.get("/account").status_code == 302  # not logged in as the attacker
    res = actor.post("/login", {"email": victim.email, "password": PASSWORD})
    assert res.status_code == 302
    with actor.client.session_transaction() as s:
        assert "planted" not in s
        assert s["_user_id"].split(":")[0] == str(victim.id)
        assert s.get("csrf_token") != planted_csrf  # a fresh CSRF secret after login


def _cookie(client):
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def test_logout_and_what_a_replayed_cookie_can_do(app, make_user):
    """Documented guarantee (docs/reliability.md, "Session guarantees"): logout ends this
    browser's login, so a copy of its cookie taken before stops working too; rotating
    the user's session_token (password change or reset, "Sign out of all devices",
    withdrawal) ends every login. Both halves are pinned here."""
    user = make_user()
    actor = Actor(app, user)
    assert actor.get("/account").status_code == 200
    stolen = _cookie(actor.client)
    res = actor.post("/logout")
    assert res.status_code == 302
    assert actor.get("/account").status_code == 302  # this browser is logged out

    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/account").status_code == 302  # and so is every copy of its cookie

    other = Actor(app, user)  # another login of the same user, copied while it is alive
    assert other.get("/account").status_code == 200
    thief = app.test_client()
    thief.set_cookie("session", _cookie(other.client))
    assert thief.get("/account").status_code == 200
    owner = Actor(app, user)
    res = owner.post("/account/password", {"current": PASSWORD, "password": "another long passphrase 2",
                                           "confirm": "another long passphrase 2"})
    assert res.status_code == 302
    res = thief.get("/account")
    assert res.status_code == 302 and urlsplit(res.headers["Location"]).path == "/login"


def test_session_cookie_flags(app, make_user):
    user = make_user()
    client = app.test_client()
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    res = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y",
                                      "csrf_token": token})
    assert res.status_code == 302
    cookies = {c.split("=")[0]: c for c in res.headers.getlist("Set-Cookie")}
    for name in ("session", "remember_token"):
        assert "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name], cookies[name]
    assert app.config["SESSION_COOKIE_SECURE"] is False  # testing runs over http


def test_production_cookies_are_secure(monkeypatch):
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    assert ProductionConfig.SESSION_COOKIE_SECURE is True and ProductionConfig.REMEMBER_COOKIE_SECURE is True
    assert ProductionConfig.SESSION_COOKIE_HTTPONLY and ProductionConfig.REMEMBER_COOKIE_HTTPONLY
    assert ProductionConfig.SESSION_COOKIE_SAMESITE == "Lax"
    prod = create_app(ProductionConfig, SECRET_KEY="a-real-production-secret", SQLALCHEMY_DATABASE_URI="sqlite://",
                      REDIS_URL=TestingConfig.REDIS_URL, SQLALCHEMY_ENGINE_OPTIONS={})
    assert prod.config["SESSION_COOKIE_SECURE"] is True and "dev.inbox" not in prod.view_functions
    with pytest.raises(RuntimeError):
        create_app(ProductionConfig, SECRET_KEY="dev-secret-key-change-me", SQLALCHEMY_DATABASE_URI="sqlite://")


# --- rate limits ------------------------------------------------------------------------

def _slow_down_page(res) -> bool:
    body = res.get_data(as_text=True)
    return res.status_code == 429 and "Slow down" in body and "Traceback" not in body


def test_login_is_rate_limited(app, make_user):
    user = make_user()
    actor = Actor(app)
    here = {"REMOTE_ADDR": "198.19.0.10"}
    statuses = [actor.post("/login", {"email": user.email, "password": "wrong guess"}, environ_base=here).status_code
                for _ in range(10)]
    assert statuses == [400] * 10
    res = actor.post("/login", {"email": user.email, "password": PASSWORD}, environ_base=here)
    assert _slow_down_page(res)
    # the per-email limit holds from another address too (a botnet guessing one account)
    res = actor.post("/login", {"email": user.email, "password": PASSWORD}, environ_base={"REMOTE_ADDR": "198.19.0.11"})
    assert _slow_down_page(res)


def test_signup_is_rate_limited(app):
    actor = Actor(app)
    here = {"REMOTE_ADDR": "198.19.0.20"}
    for i in range(5):
        res = actor.post("/signup", {"email": "bad", "nickname": "x", "password": "p", "confirm": "q"},
                         environ_base=here)
        assert res.status_code == 400
    res = actor.post("/signup", {"email": "new@example.com", "nickname": "Newbie", "password": PASSWORD,
                                 "confirm": PASSWORD}, environ_base=here)
    assert _slow_down_page(res)


def test_verify_code_is_rate_limited(app, make_user):
    user = make_user(verified=False)
    actor = Actor(app, user)
    here = {"REMOTE_ADDR": "198.19.0.30"}
    for _ in range(10):
        assert actor.post("/verify", {"code": "000000"}, environ_base=here).status_code == 400
    assert _slow_down_page(actor.post("/verify", {"code": "000000"}, environ_base=here))


def test_coupon_claim_is_rate_limited(app, world, actors):
    actor = actors["customer_b"]
    here = {"REMOTE_ADDR": "198.19.0.40"}
    outcomes = [actor.post(f"/coupons/{world.event}/claim", environ_base=here) for _ in range(8)]
    assert outcomes[0].status_code == 200 and "Got it!" in outcomes[0].get_data(as_text=True)
    limited = outcomes[-1]
    assert limited.status_code == 429 and "Too many attempts" in limited.get_data(as_text=True)
    res = actor.post(f"/coupons/{world.event}/claim", environ_base=here, headers={"Accept": "application/json"})
    assert res.status_code == 429 and res.get_json()["outcome"] == "rate_limited"
