"""The SSE stream: initial event, live events with ids, replay after Last-Event-ID,
heartbeats, and nothing published for a rolled-back transaction."""
import time

import pytest
import redis as redis_lib

from shop.extensions import db
from shop.web.sse import get_hub
from shop.notifications.services import notify

from tests.support.env import REDIS_URL


@pytest.fixture
def fast_heartbeat(app, monkeypatch):
    monkeypatch.setitem(app.config, "SSE_HEARTBEAT_SECONDS", 0.3)


def _notify(app, user_id, title):
    """A review of the game `title` by Mina, for `user_id` (its publisher)."""
    with app.app_context():
        row = notify(user_id, "review", {"nickname": "Mina", "title": title, "rating": 5}, "/games/x")
        db.session.commit()
        return row.id


def _read_until(chunks, needle, limit=40):
    seen = ""
    for _ in range(limit):
        seen += next(chunks).decode()
        if needle in seen:
            return seen
    raise AssertionError(f"{needle!r} not in stream: {seen!r}")


def test_stream_sends_ready_then_live_notifications_with_ids(app, browser, make_user, fast_heartbeat):
    user = make_user()
    browser.login(user.email)
    res = browser.get("/notifications/stream", buffered=False)
    assert res.status_code == 200 and res.mimetype == "text/event-stream"
    chunks = iter(res.response)
    assert "event: ready" in next(chunks).decode()
    assert get_hub(REDIS_URL).wait_ready()
    nid = _notify(app, user.id, "<Hades>")
    text = _read_until(chunks, "event: notification")
    assert f"id: {nid}" in text
    assert "Mina reviewed &lt;Hades&gt;" in text  # escaped
    assert 'id="notif-badge"' in text and 'hx-swap-oob="true"' in text
    assert ": heartbeat" in _read_until(chunks, ": heartbeat")
    res.close()


def test_other_users_notifications_never_reach_the_stream(app, browser, make_user, fast_heartbeat):
    user, other = make_user(), make_user()
    browser.login(user.email)
    res = browser.get("/notifications/stream?user=%d" % other.id, buffered=False)  # the URL can't pick a channel
    chunks = iter(res.response)
    next(chunks)
    get_hub(REDIS_URL).wait_ready()
    _notify(app, other.id, "for someone else")
    text = _read_until(chunks, ": heartbeat")
    text += _read_until(chunks, ": heartbeat")
    assert "someone else" not in text
    res.close()


def test_reconnect_replays_after_last_event_id(app, browser, make_user, fast_heartbeat):
    user = make_user()
    browser.login(user.email)
    first = _notify(app, user.id, "first")
    second = _notify(app, user.id, "second")
    third = _notify(app, user.id, "third")
    res = browser.get("/notifications/stream", headers={"Last-Event-ID": str(first)}, buffered=False)
    text = _read_until(iter(res.response), f"id: {third}")
    assert f"id: {second}" in text and "second" in text and "third" in text
    assert f"id: {first}\nevent: notification" not in text
    res.close()


def test_stream_requires_login(browser):
    res = browser.get("/notifications/stream")
    assert res.status_code == 302 and "/login" in res.headers["Location"]


def test_rolled_back_notification_publishes_nothing(app, make_user):
    user = make_user()
    listener = redis_lib.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(f"notify:user:{user.id}")
    listener.get_message(timeout=1)
    with app.app_context():
        notify(user.id, "review_reply", {"title": "never happened"})
        db.session.rollback()
        notify(user.id, "review_reply", {"title": "this one counts"})
        db.session.commit()
    messages = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        msg = listener.get_message(timeout=0.2)
        if msg:
            messages.append(msg["data"])
    assert len(messages) == 1


def test_mark_read_and_mark_all_read_update_the_badge(app, browser, make_user):
    user = make_user()
    browser.login(user.email)
    a = _notify(app, user.id, "one")
    _notify(app, user.id, "two")
    res = browser.post(f"/notifications/{a}/read", htmx=True)
    body = res.get_data(as_text=True)
    assert res.status_code == 200 and 'id="notif-badge"' in body and ">1<" in body
    res = browser.post("/notifications/read-all", htmx=True)
    assert 'class="count"' not in res.get_data(as_text=True)
    other = make_user()
    b = _notify(app, other.id, "not yours")
    assert browser.post(f"/notifications/{b}/read").status_code == 404
    assert browser.post(f"/notifications/{a}/read", csrf=False).status_code == 400


def test_broadcasts_reach_every_stream_without_ids(app, browser, make_user, fast_heartbeat):
    user = make_user()
    browser.login(user.email)
    res = browser.get("/notifications/stream", buffered=False)
    chunks = iter(res.response)
    next(chunks)
    get_hub(REDIS_URL).wait_ready()
    redis_lib.Redis.from_url(REDIS_URL).publish("broadcast:site", "Summer sale starts now")
    text = _read_until(chunks, "event: broadcast")
    assert "data: Summer sale starts now" in text
    res.close()
