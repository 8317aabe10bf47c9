"""The waiting room across two web nodes (two gunicorn processes sharing one Redis and
PostgreSQL, nothing else): a place taken on node A is the same on node B, a pass issued
by A opens the drop on B, skipping and forging are refused on either, both nodes' own
admission loops move the line once the admin widens it, and a waiter whose stream is
open on one node hears "sold out" when the last coupon goes on the other."""
import json
import re
import threading
from datetime import timedelta

import pytest
import requests
from itsdangerous import URLSafeTimedSerializer

from bench.harness.cluster import Visitor, make_users, wait_for
from .conftest import new_cluster

NUMBER = re.compile(r'"number": (\d+)')
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def two_nodes():
    cluster = new_cluster("waiting")
    try:
        cluster.start_nodes(2)
        yield cluster
    finally:
        cluster.stop()


def test_the_line_holds_across_two_nodes(two_nodes):
    from shop.coupons import services
    from shop.timeutil import utcnow
    from shop.waiting import services as rooms
    from shop.waiting.models import WaitingRoom
    from shop.extensions import db

    app = two_nodes.app()
    first, second, third = make_users(app, 3, prefix="line")
    now = utcnow()
    with app.app_context():
        event_id = services.create_event(services.EventInput(
            name="Line drop", discount_type="fixed", discount_value=2000, quantity=2,
            opens_at=now - timedelta(seconds=5), closes_at=now + timedelta(hours=1), valid_days=7)).id
        room_id = rooms.save_room(None, rooms.RoomInput(
            name="Line", target_kind="coupon", target=str(event_id), mode="cap", rate_per_minute=60, active_cap=1,
            session_minutes=10, queue_order="fifo", opens_at=now - timedelta(seconds=5), on_redis_down="closed",
            enabled=True)).id
    a, b = two_nodes.nodes
    visitors = [Visitor(two_nodes.nodes, ip=f"198.51.100.{n}") for n in (1, 2, 3)]
    for visitor, user in zip(visitors, (first, second, third)):
        assert visitor.login(user.email, node=0).status_code == 302

    wait_for(lambda: visitors[0].get(f"/coupons/{event_id}", node=1).status_code == 302, "node B holds the drop",
             timeout=10)
    assert visitors[0].get(f"/waiting/{room_id}", node=0).status_code == 303  # admitted on A
    page = visitors[1].get(f"/waiting/{room_id}", node=1)                     # waits on B
    assert page.status_code == 200
    number = int(NUMBER.search(page.text).group(1))
    assert int(NUMBER.search(visitors[1].get(f"/waiting/{room_id}", node=0).text).group(1)) == number  # same place on A
    third_page = visitors[2].get(f"/waiting/{room_id}", node=0)
    assert int(NUMBER.search(third_page.text).group(1)) == number + 1

    # Skipping and forging are refused on either node; A's pass claims on B.
    for node in (0, 1):
        res = visitors[1].post(f"/coupons/{event_id}/claim", node=node, headers=JSON)
        assert res.status_code == 403 and res.json()["outcome"] == "waiting_room"
    forged = URLSafeTimedSerializer("guess", salt="playcation.waiting-room.pass").dumps([room_id, "x"])
    visitors[2].http.cookies.set(f"wr_p{room_id}", forged)
    assert visitors[2].post(f"/coupons/{event_id}/claim", node=1, headers=JSON).status_code == 403
    visitors[2].http.cookies.set(f"wr_p{room_id}", None)
    res = visitors[0].post(f"/coupons/{event_id}/claim", node=1, headers=JSON)
    assert res.status_code == 200 and res.json()["outcome"] == "claimed"

    # The third waiter listens on node B: its stream carries the room's broadcast.
    heard, stop = [], threading.Event()

    def listen():
        with requests.get(b.url + f"/waiting/{room_id}/stream", stream=True, timeout=30,
                          cookies=visitors[2].http.cookies) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("data: {"):
                    heard.append(json.loads(line[6:]))
                    if heard[-1]["stock"] == 0 or stop.is_set():
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()

    # The admin lets two in at once; both nodes' admission loops pick it up within seconds.
    with app.app_context():
        db.session.get(WaitingRoom, room_id).active_cap = 2
        db.session.commit()
    wait_for(lambda: visitors[1].get(f"/waiting/{room_id}", node=1).status_code == 303, "second admitted", timeout=15)
    assert visitors[2].get(f"/waiting/{room_id}", node=0).status_code == 200  # third still waits
    res = visitors[1].post(f"/coupons/{event_id}/claim", node=0, headers=JSON)
    assert res.json()["outcome"] == "claimed"  # the last coupon, on node A
    wait_for(lambda: heard and heard[-1]["stock"] == 0, "sold out on node B's stream", timeout=5)
    assert any(h["through"] == number for h in heard)
    stop.set()
    assert "Every coupon of this drop has been claimed" in visitors[2].get(f"/waiting/{room_id}", node=1).text
