"""The dedicated admission process (`worker.py --admissions`, ticker.run_forever): it
admits on its own schedule and publishes the room's news, with no page load and no web
process's loop. Real Redis; the loop runs in a thread and is stopped by the test."""
import json
import threading
import time

from shop.waiting import state, ticker

from .conftest import set_room, ticket_number


def test_the_admission_process_admits_and_tells_the_waiters(app, redis, open_event, make_room, monkeypatch):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id, active_cap=1)
    app.test_client().get(f"/waiting/{room_id}")  # the one place inside
    last = max(ticket_number(app.test_client().get(f"/waiting/{room_id}")) for _ in range(3))
    listener = redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(state.channel(room_id))
    listener.get_message(timeout=1)
    set_room(app, room_id, active_cap=4)  # room for the three waiting
    monkeypatch.setitem(app.config, "WAITING_ADVANCE_SECONDS", 0.05)
    stop = threading.Event()
    loop = threading.Thread(target=ticker.run_forever, args=(app, stop), daemon=True)
    loop.start()
    news = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (news and news["waiting"] == 0):
            message = listener.get_message(timeout=1)
            news = json.loads(message["data"]) if message else news
    finally:
        stop.set()
        loop.join(10)
        listener.close()
    assert news == {"through": last, "waiting": 0, "stock": 5, "rate": news["rate"]}
    assert not loop.is_alive()
