"""A busy process is not an outage, and nobody misses "sold out".

Busy: the app's Redis client is swapped for one built as production builds it
(shop.infra.redisconn, a blocking pool) but with a single connection, which the test
holds. A waiting-page load then waits for the pool instead of answering 503; past the
pool's wait it gets a "try again in a moment" page (200, Retry-After) that keeps the
visitor's ticket; a claim gets 429. Redis really gone, through the same pool, is still
an outage (fail closed: 503).

Sold out: the page and the stream read the drop's stock when they open, so a visitor who
arrives, reloads or reconnects after the last coupon hears it though no broadcast
reached them. Real Redis throughout."""
import threading
import time

import pytest

from shop.coupons.redis_state import keys as coupon_keys
from shop.infra import redisconn
from shop.waiting.passes import pass_cookie, ticket_cookie

from ..support.browser import Browser
from ..support.env import REDIS_URL
from ..support.redis_outage import redis_outage  # noqa: F401  (fixture)
from .conftest import Claimer, event_input, ticket_number


def one_connection_client(url: str, wait: float):
    """The production pool (blocking, PoolBusy past its wait) with room for one connection."""
    return redisconn.client(url, decode_responses=True, blocking=True, max_connections=1, pool_timeout=wait)


@pytest.fixture
def one_connection(app, monkeypatch):
    """swap(wait) -> the app's str client replaced by a one-connection pool; `.hold()`
    takes its connection, `.release()` gives it back."""
    made = []

    def swap(wait: float):
        client = one_connection_client(REDIS_URL, wait)
        monkeypatch.setitem(app.extensions, "redis_store", client)
        holder = {}
        client.hold = lambda: holder.setdefault("conn", client.connection_pool.get_connection())
        client.release = lambda: client.connection_pool.release(holder.pop("conn"))
        made.append(client)
        return client

    yield swap
    for client in made:
        client.close()


def _waiting_on(pool) -> bool:
    return bool(pool.pool.not_empty._waiters)  # a caller blocked in the pool's queue


def test_a_page_load_waits_for_a_busy_pool_instead_of_failing(app, open_event, make_room, one_connection):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id, active_cap=1)
    app.test_client().get(f"/waiting/{room_id}")  # the one place inside
    client = one_connection(wait=60)
    client.hold()

    def release_once_the_page_waits():
        while not _waiting_on(client.connection_pool):
            time.sleep(0.01)
        client.release()

    releaser = threading.Thread(target=release_once_the_page_waits)
    releaser.start()
    page = app.test_client().get(f"/waiting/{room_id}")
    releaser.join(10)
    assert page.status_code == 200 and "Your place in line" in page.get_data(as_text=True)


def test_a_pool_busy_past_its_wait_asks_again_and_keeps_the_place(app, open_event, make_room, one_connection):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id, active_cap=1)
    app.test_client().get(f"/waiting/{room_id}")
    visitor = app.test_client()
    number = ticket_number(visitor.get(f"/waiting/{room_id}"))
    kept = visitor.get_cookie(ticket_cookie(room_id)).value
    client = one_connection(wait=0.05)
    client.hold()
    busy = visitor.get(f"/waiting/{room_id}")
    assert busy.status_code == 200 and 3 <= int(busy.headers["Retry-After"]) <= 8
    assert "Many visitors are arriving at once" in busy.get_data(as_text=True)
    assert visitor.get_cookie(ticket_cookie(room_id)).value == kept and visitor.get_cookie(pass_cookie(room_id)) is None
    client.release()
    assert ticket_number(visitor.get(f"/waiting/{room_id}")) == number  # the same place


def test_a_claim_on_a_busy_pool_is_asked_to_try_again(app, open_event, make_users, make_room, one_connection,
                                                       monkeypatch):
    """Both ways a claim is answered: the fast lane (429 "busy") and Flask's hook (429,
    back to the room's JSON), each with Retry-After; once a connection is free it claims."""
    from shop.coupons.fastlane import ClaimFastLane

    event_id = open_event(quantity=5)
    room_id = make_room(event_id, active_cap=5)
    lane_user, flask_user = (LoggedIn(app, u) for u in make_users(2))
    for claimer in (lane_user, flask_user):
        assert claimer.browser.get(f"/waiting/{room_id}").status_code == 303  # each has a pass
    lane = app.wsgi_app
    assert isinstance(lane, ClaimFastLane)
    flask_calls = []
    inner = lane.inner
    monkeypatch.setattr(lane, "inner", lambda environ, start: flask_calls.append(1) or inner(environ, start))
    monkeypatch.setattr(lane, "ready", False)  # and back to what it was after the test
    lane._start()  # on the suite's client; the room's owner check then meets the busy pool
    client = one_connection(wait=0.05)
    client.hold()
    claim = lane_user.claim(event_id)
    assert not flask_calls, "the fast lane handed the busy claim to Flask"
    assert claim.status_code == 429 and claim.headers["Retry-After"] == "2"
    assert claim.get_json()["outcome"] == "busy"
    monkeypatch.setattr(app, "wsgi_app", inner)  # Flask alone, as without the lane
    claim = flask_user.claim(event_id)
    assert claim.status_code == 429 and claim.headers["Retry-After"] == "2"
    assert claim.get_json()["outcome"] == "waiting_room"
    client.release()
    assert flask_user.claim(event_id).get_json()["outcome"] == "claimed"
    monkeypatch.setattr(app, "wsgi_app", lane)
    assert lane_user.claim(event_id).get_json()["outcome"] == "claimed"


class LoggedIn:
    """A user logged in through /login (the fast lane answers only such sessions)."""

    def __init__(self, app, user):
        self.browser = Browser(app)
        assert self.browser.login(user.email).status_code == 302
        self.token = self.browser.csrf_token()

    def claim(self, event_id: int):
        return self.browser.client.post(f"/coupons/{event_id}/claim", data={"csrf_token": self.token},
                                        headers={"Accept": "application/json"})


def test_redis_down_behind_the_same_pool_is_still_an_outage(app, make_room, redis_outage, monkeypatch):  # noqa: F811
    """The busy-pool handling must not swallow a real outage: a refused connection from
    the production pool still fails the room closed."""
    from shop.coupons import services

    with app.app_context():
        event_id = services.create_event(event_input(5)).id
    room_id = make_room(event_id, on_redis_down="closed")
    url = f"redis://127.0.0.1:{redis_outage.server.port}/0"
    monkeypatch.setitem(app.extensions, "redis_store", redisconn.client(
        url, decode_responses=True, blocking=True, max_connections=1, pool_timeout=5, socket_connect_timeout=1))
    redis_outage.down()
    res = app.test_client().get(f"/waiting/{room_id}?next=/coupons/{event_id}")
    assert res.status_code == 503 and res.headers["Retry-After"] == "10"
    assert "unavailable for a moment" in res.get_data(as_text=True)


def test_a_visitor_arriving_after_the_last_coupon_is_told_at_once(app, redis, open_event, make_room):
    """No admission tick ran since the stock reached 0 (the loop is off in tests): the
    page and a stream opened now still say "sold out"."""
    event_id = open_event(quantity=3)
    room_id = make_room(event_id, active_cap=1)
    app.test_client().get(f"/waiting/{room_id}")
    waiter = app.test_client()
    assert waiter.get(f"/waiting/{room_id}").status_code == 200
    redis.set(coupon_keys(event_id)["stock"], 0)
    for visitor in (waiter, app.test_client()):  # a reload, and a newcomer
        page = visitor.get(f"/waiting/{room_id}")
        assert page.status_code == 200
        assert "Every coupon of this drop has been claimed" in page.get_data(as_text=True)
        stream = visitor.get(f"/waiting/{room_id}/stream", buffered=False)
        first = next(iter(stream.response)).decode()
        stream.close()
        assert "event: admit" in first and '"stock":0' in first
