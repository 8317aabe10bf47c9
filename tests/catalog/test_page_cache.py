"""The full-page cache (shop/catalog/pagecache.py): one shared copy per page,
language and state of the catalog, and nothing of one visitor ever in another's page."""
import re
from datetime import timedelta

import pytest

from shop.catalog import cache
from shop.timeutil import utcnow

from ..support.browser import Browser, run_jobs
from .test_storefront import shop  # noqa: F401  (fixture)

TOKEN_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
PAGES = ("/", "/games", "/games?tag=puzzle", "/games?page=2", "/search?q=amber+lantern")


def _token(res) -> str:
    return TOKEN_RE.search(res.get_data(as_text=True)).group(1)


@pytest.fixture
def store(shop):  # noqa: F811
    tag = shop.tag("Puzzle")
    game = shop.game("Amber Lantern", featured=True, price=12000, tag_ids=[tag])
    for i in range(30):
        shop.game(f"Filler {i}", price=1000 + i)
    return game


def test_anonymous_pages_are_served_from_the_shared_copy(app, store):
    for path in PAGES + (f"/games/{store.slug}",):
        first, second = app.test_client().get(path), app.test_client().get(path)
        assert first.status_code == second.status_code == 200, path
        assert (first.headers["X-Page-Cache"], second.headers["X-Page-Cache"]) == ("miss", "hit"), path
        strip = lambda res: TOKEN_RE.sub("", res.get_data(as_text=True)).replace(_token(res), "")  # noqa: E731
        assert strip(first) == strip(second), path


def test_each_visitor_gets_their_own_csrf_token_and_it_works(app, store):
    a, b = Browser(app), Browser(app)
    token_a, token_b = _token(a.get("/")), _token(b.get("/"))
    assert b.get("/").headers["X-Page-Cache"] == "hit"
    assert token_a.split(".")[0] != token_b.split(".")[0] and "%%csrf" not in a.get("/").get_data(as_text=True)
    # every form on the cached page carries the visitor's own token
    page = b.get(f"/games/{store.slug}").get_data(as_text=True)
    session_part = lambda token: token.split(".")[0]  # noqa: E731  (the signature carries a timestamp)
    assert {session_part(t) for t in re.findall(r'name="csrf_token" value="([^"]+)"', page)} == {session_part(token_b)}
    # and it is accepted for that session only
    assert b.post("/language", {"lang": "ko", "csrf_token": token_b}).headers["Set-Cookie"].startswith("lang=ko")
    refused = b.post("/language", {"lang": "ko", "csrf_token": token_a})
    assert "lang=ko" not in refused.headers.get("Set-Cookie", "")


def test_no_set_cookie_is_replayed_from_the_cache(app, store):
    a, b = app.test_client(), app.test_client()
    cookie_a = a.get("/").headers["Set-Cookie"]
    res = b.get("/")
    assert res.headers["X-Page-Cache"] == "hit"
    assert res.headers.get("Set-Cookie") != cookie_a  # b's own session (its own token), not a's


def test_a_logged_in_users_own_parts_are_never_shared(app, store, make_user):
    user = make_user(nickname="Secret Nick")
    member = Browser(app)
    member.login(user.email)
    member.get("/")  # shows the welcome flash: rendered for this request alone
    for path in PAGES + (f"/games/{store.slug}",):
        res = member.get(path)
        assert res.headers["X-Page-Cache"] == "miss" and "Secret Nick" in res.get_data(as_text=True), path
        anonymous = app.test_client().get(path)
        body = anonymous.get_data(as_text=True)
        assert "Secret Nick" not in body and "Log out" not in body and "Log in" in body, path
        # and the member never gets the anonymous copy
        again = member.get(path).get_data(as_text=True)
        assert "Secret Nick" in again and ">Log in<" not in again, path


def test_the_members_cart_state_stays_theirs(app, store, make_user):
    user = make_user()
    member = Browser(app)
    member.login(user.email)
    member.post(f"/cart/{store.id}")
    assert "In cart" in member.get(f"/games/{store.slug}").get_data(as_text=True)
    page = app.test_client().get(f"/games/{store.slug}").get_data(as_text=True)
    assert "In cart" not in page and "Add to cart" in page


def test_flash_messages_are_never_cached(app, store):
    visitor = Browser(app)
    token = _token(visitor.get("/"))
    visitor.post("/language", {"lang": "xx", "csrf_token": token})  # flashes "That language is not available."
    res = visitor.get("/")
    assert res.headers["X-Page-Cache"] == "bypass" and "That language is not available." in res.get_data(as_text=True)
    other = app.test_client().get("/")
    assert other.headers["X-Page-Cache"] == "hit" and "not available" not in other.get_data(as_text=True)
    assert visitor.get("/").headers["X-Page-Cache"] == "hit"  # the flash was shown once


def test_pages_are_cached_per_language(app, store):
    english = app.test_client().get(f"/games/{store.slug}").get_data(as_text=True)
    korean = app.test_client().get(f"/games/{store.slug}", headers={"Accept-Language": "ko"})
    assert korean.headers["X-Page-Cache"] == "miss" and '<html lang="ko"' in korean.get_data(as_text=True)
    assert '<html lang="en"' in english


def test_a_url_that_is_not_canonical_is_rendered_not_cached(app, store, redis):
    res = app.test_client().get("/games?utm_source=mail&page=1")
    assert res.status_code == 200 and res.headers["X-Page-Cache"] == "bypass"
    assert not [k for k in redis.keys("page:*") if "utm" in k]


def test_a_game_change_invalidates_its_page_and_the_lists(app, shop, store):  # noqa: F811
    client = app.test_client()
    for path in ("/", "/games", f"/games/{store.slug}"):
        client.get(path)
        assert client.get(path).headers["X-Page-Cache"] == "hit"
    shop.update(store.id, title="Amber Road", price=9000)
    run_jobs(app)  # after_game_change
    for path in ("/", "/games"):
        res = client.get(path)
        assert res.headers["X-Page-Cache"] == "miss" and "Amber Road" in res.get_data(as_text=True), path
    res = client.get(f"/games/{store.slug}", follow_redirects=True)
    assert "Amber Road" in res.get_data(as_text=True) and "₩9,000" in res.get_data(as_text=True)


def test_a_review_refreshes_the_game_page(app, shop, store):  # noqa: F811
    client = app.test_client()
    assert "No reviews yet" in client.get(f"/games/{store.slug}").get_data(as_text=True)
    with app.app_context():
        shop._review(store.id, 5)
    run_jobs(app)
    page = client.get(f"/games/{store.slug}").get_data(as_text=True)
    assert "No reviews yet" not in page.split('id="game-rating-summary"')[1][:300]


def test_a_page_never_outlives_the_next_sale_start(app, shop, redis):  # noqa: F811
    shop.game("Soon Cheap", featured=True, price=10000, sale_price=5000, sale_starts_at=utcnow() + timedelta(seconds=40))
    app.test_client().get("/")
    [key] = [k for k in redis.keys("page:en:full:*") if k.endswith(":/")]
    assert 0 < redis.ttl(key) <= 41


def test_rebuilds_are_single_flight_and_serve_the_previous_copy(app, store, redis):
    client = app.test_client()
    client.get("/games")
    with app.app_context():
        cache.invalidate_game(store.id)
    [key] = [k for k in redis.keys("page:en:full:*") if k.endswith(":/games")]
    redis.set("lock:" + key, "1", ex=30)  # another request is rebuilding it
    res = client.get("/games")
    assert res.headers["X-Page-Cache"] == "hit" and "Amber Lantern" in res.get_data(as_text=True)  # the previous copy
    redis.delete("lock:" + key)
    assert client.get("/games").headers["X-Page-Cache"] == "miss"  # now this one rebuilds



def test_a_korean_slug_is_cached_at_its_canonical_url(app, shop):  # noqa: F811
    game = shop.game("별빛 기사")
    client = app.test_client()
    assert client.get(f"/games/{game.slug}").headers["X-Page-Cache"] == "miss"
    assert client.get(f"/games/{game.slug}").headers["X-Page-Cache"] == "hit"
