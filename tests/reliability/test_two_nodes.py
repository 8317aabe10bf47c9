"""Two web nodes behind one (imaginary) load balancer: two gunicorn processes (gevent
workers, gunicorn.conf.py) on two ports, two RQ workers and the coupon consumer, all
sharing one PostgreSQL database and one Redis and configured only through the
environment (APP_ENV=production, SECRET_KEY, DATABASE_URL, REDIS_URL, MAIL_*).

Rules proved here: nothing a request needs lives in one node's memory — sessions and
CSRF tokens are signed cookies valid on every node, notifications cross nodes through
Redis pub/sub, coupon stock is one Lua script on the shared Redis, and rate limits
are counted in Redis, so a client gains nothing by spreading requests over nodes."""
import itertools
import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.harness.cluster import Visitor, make_game, make_users, wait_for
from .conftest import new_cluster


@pytest.fixture(scope="module")
def two_nodes():
    cluster = new_cluster("nodes")
    try:
        cluster.start_deployment(2)
        yield cluster
    finally:
        cluster.stop()


_ips = itertools.count(1)


def visitor(cluster) -> Visitor:
    n = next(_ips)
    return Visitor(cluster.nodes, ip=f"198.51.{n // 250}.{n % 250 + 1}")


def test_both_nodes_are_healthy_and_distinct_processes(two_nodes):
    a, b = two_nodes.nodes
    assert a.proc.pid != b.proc.pid and a.port != b.port
    for node in (a, b):
        res = requests.get(node.url + "/healthz", timeout=5)
        assert res.status_code == 200 and res.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_a_session_made_on_node_a_works_on_node_b(two_nodes):
    app = two_nodes.app()
    (user,) = make_users(app, 1, prefix="sess")
    browser = visitor(two_nodes)
    res = browser.login(user.email, node=0)
    assert res.status_code == 302, res.text[:500]
    account = browser.get("/account", node=1)
    assert account.status_code == 200 and user.nickname in account.text
    # A form token issued by node B is accepted by node A (same SECRET_KEY, signed cookie).
    token = browser.refresh_token(node=1, path="/cart")
    res = browser.post("/logout", {"csrf_token": token}, node=0)
    assert res.status_code == 302
    assert browser.get("/account", node=1).status_code == 302  # logged out everywhere


def test_a_purchase_and_review_hop_nodes_and_reach_the_publishers_stream_on_the_other_node(two_nodes):
    """Buy on A and B alternately (cart, checkout, sandbox window, success redirect), post
    a review through node A; the publisher's SSE stream is open on node B."""
    app = two_nodes.app()
    (publisher,) = make_users(app, 1, role="publisher", prefix="pub")
    (buyer,) = make_users(app, 1, prefix="buyer")
    game = make_game(app, publisher.id, "Hollow Relay", price=18000)

    shopper = visitor(two_nodes)
    assert shopper.login(buyer.email, node=0).status_code == 302
    assert shopper.post(f"/cart/{game.id}", node=0, htmx=True).status_code == 200
    res = shopper.post("/checkout", node=1)
    assert res.status_code == 302 and "/sandbox/pay/" in res.headers["Location"], res.status_code
    public_id = res.headers["Location"].rsplit("/", 1)[1]
    res = shopper.post(f"/sandbox/pay/{public_id}", {"action": "approve"}, node=0)
    assert res.status_code == 302 and "paymentKey=" in res.headers["Location"]
    res = shopper.get(res.headers["Location"], node=1)
    assert res.status_code == 302 and res.headers["Location"] == f"/orders/{public_id}"
    assert two_nodes.sql("SELECT status FROM orders WHERE public_id = %s", public_id) == [("PAID",)]

    # The publisher opens the notification stream on node B.
    reader = visitor(two_nodes)
    assert reader.login(publisher.email, node=1).status_code == 302
    lines: queue.Queue = queue.Queue()
    stream = reader.http.get(two_nodes.nodes[1].url + "/notifications/stream", stream=True, timeout=(5, 30))
    assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")

    def read():
        try:
            for line in stream.iter_lines(decode_unicode=True):
                lines.put(line)
        except Exception:  # the test closed the stream
            pass

    threading.Thread(target=read, daemon=True).start()
    assert lines.get(timeout=10).startswith("retry:")
    wait_for(lambda: any("connected" in l for l in _drain(lines, [])), "the ready event", timeout=10)

    res = shopper.post(f"/games/{game.slug}/reviews", {"rating": "5", "body": "Tight controls, lovely relay."},
                       node=0, htmx=True)
    assert res.status_code == 200, res.text[:300]
    seen: list[str] = []
    try:
        wait_for(lambda: any("reviewed Hollow Relay" in l for l in _drain(lines, seen)),
                 "the review notification on node B's stream", timeout=10)
    finally:
        abort(stream)
    assert any(l == "event: notification" for l in seen), seen
    # The receipt went out through a worker process and the real SMTP sink.
    wait_for(lambda: two_nodes.mail_to(buyer.email), "the receipt email", timeout=15)
    assert two_nodes.sql("SELECT status FROM email_log WHERE recipient = %s", buyer.email) == [("sent",)]


def abort(stream):
    """Drop an SSE response at once (Response.close() would wait for the reader thread,
    i.e. for the next heartbeat)."""
    conn = getattr(stream.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _drain(q: queue.Queue, into: list) -> list:
    while True:
        try:
            into.append(q.get_nowait())
        except queue.Empty:
            return into


def test_a_coupon_storm_over_both_nodes_issues_exactly_n(two_nodes):
    """N=15 coupons, 40 logged-in users, each pressing Claim on both nodes at once (80
    attempts on 16 threads): exactly 15 'claimed' answers, to 15 different users, and
    after the consumer drains the stream the database holds exactly those 15 rows."""
    from shop.coupons import services
    from shop.coupons.services import EventInput
    from shop.timeutil import utcnow
    from datetime import timedelta

    app = two_nodes.app()
    users = make_users(app, 40, prefix="storm")
    visitors = [visitor(two_nodes) for _ in users]
    with ThreadPoolExecutor(4) as pool:  # argon2 on the nodes: ~0.2 s a login
        statuses = list(pool.map(lambda pair: pair[1].login(pair[0].email, node=pair[0].id % 2).status_code,
                                 zip(users, visitors)))
    assert statuses == [302] * len(users)
    now = utcnow()
    with app.app_context():
        event_id = services.create_event(EventInput(
            name="Two-node drop", discount_type="fixed", discount_value=2000, quantity=15,
            opens_at=now - timedelta(seconds=5), closes_at=now + timedelta(hours=1), valid_days=7)).id

    attempts = [(u, v, node) for u, v in zip(users, visitors) for node in (0, 1)]
    gate = threading.Barrier(16)

    def claim(attempt):
        user, v, node = attempt
        res = v.post(f"/coupons/{event_id}/claim", node=node, headers={"Accept": "application/json"})
        assert res.status_code in (200, 429), (res.status_code, res.text[:200])
        return user.id, node, res.json()["outcome"]

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: gate.wait(10), range(16)))
        results = list(pool.map(claim, attempts))
    winners = [uid for uid, _, outcome in results if outcome == "claimed"]
    assert len(winners) == 15 and len(set(winners)) == 15, results
    assert {outcome for _, _, outcome in results} <= {"claimed", "already_claimed", "sold_out"}

    wait_for(lambda: two_nodes.scalar("SELECT count(*) FROM coupons WHERE event_id = %s", event_id) == 15,
             "15 coupon rows", timeout=15)
    time.sleep(0.5)  # nothing more may arrive
    rows = two_nodes.sql("SELECT user_id FROM coupons WHERE event_id = %s", event_id)
    assert sorted(r[0] for r in rows) == sorted(winners)
    r = two_nodes.redis.client()
    assert r.get(f"coupon:{{{event_id}}}:stock") == "0"
    assert r.xpending(f"coupon:{{{event_id}}}:issued", "persist")["pending"] == 0


def test_a_raised_quantity_clears_sold_out_on_both_nodes_within_100_ms(two_nodes):
    """Both nodes have seen the drop sell out and answer "sold out" from their own flag
    (proved: stock put back in Redis behind the app's back is not seen). An admin in a
    third process raises the quantity: a claim sent to either node from 100 ms later on is
    answered from Redis, i.e. both flags are gone (the restock is published; each node's
    hub follows it). Before, the flags held for COUPON_SOLD_OUT_CACHE_SECONDS (2 s)."""
    from datetime import timedelta

    from shop.coupons import services
    from shop.coupons.models import CouponEvent
    from shop.extensions import db
    from shop.timeutil import utcnow

    app = two_nodes.app()
    users = make_users(app, 4, prefix="restock")
    a, b, c, d = visitors = [visitor(two_nodes) for _ in users]
    for user, v in zip(users, visitors):
        assert v.login(user.email, node=0).status_code == 302
    now = utcnow()
    with app.app_context():
        event_id = services.create_event(services.EventInput(
            name="Restocked drop", discount_type="fixed", discount_value=1000, quantity=1,
            opens_at=now - timedelta(seconds=5), closes_at=now + timedelta(hours=1), valid_days=7)).id

    def outcome(v, node):
        res = v.post(f"/coupons/{event_id}/claim", node=node, headers={"Accept": "application/json"})
        assert res.status_code == 200, (res.status_code, res.text[:200])
        return res.json()["outcome"]

    assert outcome(a, 0) == "claimed"
    assert [outcome(b, 0), outcome(b, 1)] == ["sold_out", "sold_out"]
    stock = f"coupon:{{{event_id}}}:stock"
    r = two_nodes.redis.client()
    r.set(stock, 1)  # no restock published: the nodes' flags must hide it
    assert [outcome(c, 1), outcome(d, 0)] == ["sold_out", "sold_out"]
    r.set(stock, 0)

    with app.app_context():
        event = db.session.get(CouponEvent, event_id)
        data = {name: getattr(event, name) for name in services.EventInput.__dataclass_fields__}
        services.update_event(event, services.EventInput(**{**data, "quantity": 3}))  # stock 2
    raised = time.monotonic()

    def until_claimed(pair):
        v, node = pair
        while True:
            sent = time.monotonic() - raised
            answer = outcome(v, node)
            if answer != "sold_out" or sent > 1.0:
                return answer, sent

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(until_claimed, [(c, 1), (d, 0)]))
    assert [answer for answer, _ in results] == ["claimed", "claimed"], results
    assert all(sent < 0.1 for _, sent in results), results


def test_the_login_rate_limit_is_counted_across_nodes(two_nodes):
    """RATELIMIT_LOGIN is 10 per minute per email (and per client address). Ten wrong
    passwords spread over A and B, each from another address: the 11th attempt is 429
    on either node — even with the right password."""
    app = two_nodes.app()
    (user,) = make_users(app, 1, prefix="limited")
    for attempt in range(10):
        v = visitor(two_nodes)
        v.refresh_token(node=attempt % 2)
        res = v.post("/login", {"email": user.email, "password": "wrong password here"}, node=attempt % 2)
        assert res.status_code == 400, (attempt, res.status_code)
    for node in (0, 1):
        v = visitor(two_nodes)
        v.refresh_token(node=node)
        res = v.post("/login", {"email": user.email, "password": "a long passphrase 1"}, node=node)
        assert res.status_code == 429 and "Slow down" in res.text
    other = visitor(two_nodes)  # another account from a fresh address is not affected
    (fresh,) = make_users(app, 1, prefix="fresh")
    assert other.login(fresh.email, node=1).status_code == 302
