"""Faults injected into a running deployment (real processes; see cluster.py): Redis
stopped or restarted empty, PostgreSQL unreachable from the coupon consumer, an RQ
worker or the consumer SIGKILLed mid-job, SMTP down, and the payment gateway failing,
hanging or unreachable at confirm. Each test states the rule it proves.

What the unit-level suites already prove (in-process) is not repeated here; see
docs/reliability.md for the map."""
import asyncio
import itertools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from aiosmtpd.controller import Controller

from shop.dev.mail import FolderHandler

from ..orders.toss_server import TossFake
from bench.harness.cluster import TcpProxy, Visitor, free_port, make_game, make_users, wait_for
from .conftest import new_cluster

TOSS_TIMEOUT = 1.0
ORDER_ID = re.compile(r'orderId"?: "([0-9a-f-]{36})"')  # in the Toss payment window's settings
NO_TRACEBACK = ("Traceback", "File \"/", "redis.exceptions", "psycopg")


@pytest.fixture(scope="module")
def faults():
    """Two nodes (Toss gateway: a local fake behind a proxy the tests can cut), one RQ
    worker, one coupon consumer whose database connection goes through a cuttable proxy."""
    toss = TossFake(hang_seconds=3.0).start()
    cluster = None
    try:
        from bench.harness.cluster import postgres_url

        pg_port = int(postgres_url().split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        pg_proxy = TcpProxy(pg_port)
        toss_proxy = TcpProxy(int(toss.url.rsplit(":", 1)[1]))
        cluster = new_cluster("faults", PAYMENT_GATEWAY="toss", TOSS_API_BASE=f"http://127.0.0.1:{toss_proxy.port}",
                              TOSS_SECRET_KEY=toss.secret_key, TOSS_CLIENT_KEY="test_ck_playcation_fake",
                              TOSS_TIMEOUT=TOSS_TIMEOUT)
        cluster.toss, cluster.toss_proxy, cluster.pg_proxy = toss, toss_proxy, pg_proxy
        cluster.proxied_db_url = cluster.database_url.replace(f":{pg_port}/", f":{pg_proxy.port}/")
        cluster.start_nodes(2)
        cluster.worker = cluster.start_worker("worker")
        cluster.consumer = cluster.start_consumer("coupons-proxied", DATABASE_URL=cluster.proxied_db_url)
        cluster.wait_workers(1)
        cluster.wait_consumer(cluster.consumer)
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
            cluster.pg_proxy.close()
            cluster.toss_proxy.close()
        toss.stop()


_ips = itertools.count(1)


def visitor(cluster) -> Visitor:
    n = next(_ips)
    return Visitor(cluster.nodes, ip=f"192.0.{n // 250}.{n % 250 + 1}")


def logged_in(cluster, users) -> list[Visitor]:
    """Visitors carrying the session cookie Flask-Login writes after the login form (and
    its CSRF token), signed with the nodes' SECRET_KEY: the login form itself is proved
    over HTTP in test_two_nodes.py; argon2 for every claimer would cost ~0.2 s each."""
    from flask import g, session
    from flask_wtf.csrf import generate_csrf

    from ..support.browser import login_id

    app = cluster.app()
    ids = {user.id: login_id(app, user.id) for user in users}
    signer = app.session_interface.get_signing_serializer(app)
    out = []
    with app.test_request_context():
        for user in users:
            session.clear()
            g.pop("csrf_token", None)
            token = generate_csrf()
            v = visitor(cluster)
            v.http.cookies.set(app.config["SESSION_COOKIE_NAME"],
                               signer.dumps({"_user_id": ids[user.id], "_fresh": True, "csrf_token": session["csrf_token"]}))
            v.token = token
            v.user = user
            out.append(v)
    return out


def open_event(cluster, quantity: int) -> int:
    from shop.coupons import services
    from shop.timeutil import utcnow

    now = utcnow()
    with cluster.app().app_context():
        return services.create_event(services.EventInput(
            name="Fault drop", discount_type="fixed", discount_value=1000, quantity=quantity,
            opens_at=now - timedelta(seconds=5), closes_at=now + timedelta(hours=1), valid_days=7)).id


def claim_all(visitors, event_id, threads=8) -> list[tuple[int, str]]:
    def claim(pair):
        n, v = pair
        res = v.post(f"/coupons/{event_id}/claim", node=n % 2, headers={"Accept": "application/json"})
        assert res.status_code in (200, 429, 503), (res.status_code, res.text[:300])
        return v.user.id, res.json().get("outcome", "unavailable") if res.status_code != 503 else "unavailable"

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(claim, enumerate(visitors)))


def coupon_users(cluster, event_id) -> list[int]:
    return sorted(r[0] for r in cluster.sql("SELECT user_id FROM coupons WHERE event_id = %s", event_id))


def run_job(cluster, dotted: str, timeout: float = 30.0):
    """Enqueue a cron target on the nodes' queue, as rq-scheduler does, and wait for the
    worker process to finish it."""
    from rq import Queue

    q = Queue("default", connection=cluster.redis_raw())
    job = q.enqueue(dotted)
    wait_for(lambda: job.get_status(refresh=True) in ("finished", "failed"), f"job {dotted}", timeout=timeout)
    assert job.get_status() == "finished", job.exc_info
    return job.return_value()


# --- Redis --------------------------------------------------------------------------------

def test_redis_stopped_while_browsing_gives_503_pages_writes_nothing_half_and_recovers(faults):
    """Rule: with Redis down, every page answers either normally or with the 503 page (no
    500, no traceback); /healthz says 503 and which dependency; an add-to-cart or
    checkout either happened completely (and said so) or not at all (and said 503); when
    Redis is back the same processes serve normally again, without a restart."""
    app = faults.app()
    (publisher,) = make_users(app, 1, role="publisher", prefix="rpub")
    game = make_game(app, publisher.id, "Redis Runner", price=12000)
    other = make_game(app, publisher.id, "Cache Miss", price=9000)
    (buyer,) = make_users(app, 1, prefix="rbuyer")
    [v] = logged_in(faults, [buyer])

    faults.redis.stop()
    try:
        for node in (0, 1):
            health = requests.get(faults.nodes[node].url + "/healthz", timeout=10)
            assert health.status_code == 503
            assert health.json()["redis"].startswith("down") and health.json()["database"] == "ok"
            for path in ("/", "/games", f"/games/{game.slug}", "/search?q=redis", "/cart", "/coupons"):
                res = v.get(path, node=node)
                assert res.status_code in (200, 503), (path, res.status_code)
                assert not any(marker in res.text for marker in NO_TRACEBACK), path
                if res.status_code == 503:
                    assert "Temporarily unavailable" in res.text, path
        added = v.post(f"/cart/{game.id}", node=0, htmx=True)
        assert added.status_code in (200, 503) and not any(m in added.text for m in NO_TRACEBACK)
        in_cart = faults.sql("SELECT game_id FROM cart_items WHERE user_id = %s", buyer.id)
        assert in_cart == ([(game.id,)] if added.status_code == 200 else [])
        if added.status_code == 503:
            assert "Temporarily unavailable" in added.text
        checkout = v.post("/checkout", node=1)
        assert checkout.status_code in (200, 302, 503) and not any(m in checkout.text for m in NO_TRACEBACK)
        orders = faults.sql("SELECT status, total, (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) "
                            "FROM orders o WHERE user_id = %s", buyer.id)
        if checkout.status_code == 503:
            assert orders == []
        elif added.status_code == 200:
            assert orders == [("PENDING", 12000, 1)]  # the whole order: amount snapshot and its line
    finally:
        faults.redis.start()

    for node in faults.nodes:  # the same processes, no restart
        wait_for(lambda: requests.get(node.url + "/healthz", timeout=5).status_code == 200,
                 f"{node.name} healthy again", timeout=30)
    # This Redis keeps no data across a restart, so its login records went with it:
    # the visitor is anonymous until they log in again.
    assert v.get("/account", node=0).status_code == 302
    [v] = logged_in(faults, [buyer])
    assert v.post(f"/cart/{other.id}", node=1, htmx=True).status_code == 200
    page = v.post("/checkout", node=0)
    assert page.status_code == 200 and ORDER_ID.search(page.text)  # the Toss payment window
    rows = faults.sql("SELECT status FROM orders WHERE user_id = %s ORDER BY id", buyer.id)
    assert rows[-1] == ("PENDING",) and [r for r in rows if r[0] == "PENDING"] == [("PENDING",)]
    assert sorted(r[0] for r in faults.sql("SELECT game_id FROM cart_items WHERE user_id = %s", buyer.id)) == \
        sorted({other.id} | ({game.id} if in_cart else set()))


def test_redis_restarted_empty_during_an_open_coupon_event_is_rebuilt_and_never_oversells(faults):
    """Rule: when Redis comes back empty mid-drop, the event's state is rebuilt from the
    database (stock = N − coupons persisted) before any claim is answered — by the
    reconcile job (cron, every minute) or by the first claim — so the total issued
    never exceeds N and nobody holds two."""
    users = make_users(faults.app(), 40, prefix="flush")
    visitors = logged_in(faults, users)
    event_id = open_event(faults, 20)
    first = claim_all(visitors[:12], event_id)
    assert [o for _, o in first] == ["claimed"] * 12
    wait_for(lambda: len(coupon_users(faults, event_id)) == 12, "12 coupons persisted", timeout=20)

    faults.redis.stop()
    faults.redis.start()  # no persistence: every key is gone
    r = faults.redis.client()
    assert r.dbsize() == 0
    report = run_job(faults, "shop.coupons.tasks.reconcile_events", timeout=60)
    assert r.get(f"coupon:{{{event_id}}}:stock") == "8", report  # 20 − 12, from the database
    assert {int(u) for u in r.smembers(f"coupon:{{{event_id}}}:claimed")} == {v.user.id for v in visitors[:12]}
    visitors = logged_in(faults, users)  # the login records went with the keys: log in again

    again = claim_all(visitors, event_id, threads=12)  # everyone, the 12 winners included
    outcomes = dict(again)
    # A winner asking again is told "already claimed" by the script, or "sold out" by the
    # node's local sold-out flag once the last coupon went (after a sell-out no claim
    # reaches Redis at all, by design); never a second coupon.
    assert all(outcomes[v.user.id] in ("already_claimed", "sold_out") for v in visitors[:12]), again
    new_winners = [uid for uid, o in again if o == "claimed"]
    assert len(new_winners) == 8 and len(set(new_winners)) == 8
    wait_for(lambda: len(coupon_users(faults, event_id)) == 20, "20 coupons persisted", timeout=20)
    time.sleep(0.5)
    issued = coupon_users(faults, event_id)
    assert len(issued) == 20 and len(set(issued)) == 20
    assert set(issued) == {v.user.id for v in visitors[:12]} | set(new_winners)
    assert r.get(f"coupon:{{{event_id}}}:stock") == "0"


# --- PostgreSQL ---------------------------------------------------------------------------

def test_postgres_unreachable_from_the_consumer_keeps_claims_pending_until_it_returns(faults):
    """Rule: claims are answered from Redis alone; while the consumer cannot reach the
    database they wait in the event's stream (nothing acknowledged, nothing lost) and
    land once it can — exactly N rows, no user twice."""
    users = make_users(faults.app(), 16, prefix="pgcut")
    visitors = logged_in(faults, users)
    event_id = open_event(faults, 12)
    time.sleep(0.3)
    faults.pg_proxy.cut()
    try:
        outcomes = claim_all(visitors, event_id)
        winners = sorted(uid for uid, o in outcomes if o == "claimed")
        assert len(winners) == 12 and {o for _, o in outcomes} == {"claimed", "sold_out"}
        time.sleep(3)  # the consumer keeps failing meanwhile (and logs it)
        assert coupon_users(faults, event_id) == []
        r = faults.redis.client()
        stream = f"coupon:{{{event_id}}}:issued"
        assert r.xlen(stream) == 12  # every claim is still there, unacknowledged
        assert faults.consumer.alive  # the consumer survives the outage
    finally:
        faults.pg_proxy.restore()
    wait_for(lambda: len(coupon_users(faults, event_id)) == 12, "the 12 claims in the database", timeout=30)
    time.sleep(0.5)
    assert coupon_users(faults, event_id) == winners
    assert faults.redis.client().xpending(stream, "persist")["pending"] == 0
    assert "round failed" in faults.consumer.output() or "draining event" in faults.consumer.output()


def lock_waiters(cluster) -> int:
    """Backends of the cluster's database waiting for a lock."""
    return cluster.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND wait_event_type = 'Lock'")


def test_a_consumer_killed_mid_batch_is_finished_by_another(faults):
    """Rule: a consumer SIGKILLed in the middle of writing a batch (entries read from the
    stream, its transaction open and waiting) leaves nothing written and its entries
    pending; another consumer takes them over once idle (XAUTOCLAIM, 15 s) and writes
    each exactly once."""
    users = make_users(faults.app(), 10, prefix="kill")
    visitors = logged_in(faults, users)
    event_id = open_event(faults, 10)
    stream = f"coupon:{{{event_id}}}:issued"
    r = faults.redis.client()
    blocker = faults.connect()  # holds the event's row lock: the consumer's batch waits on it
    try:
        blocker.execute("SELECT id FROM coupon_events WHERE id = %s FOR UPDATE", (event_id,))
        assert [o for _, o in claim_all(visitors, event_id)] == ["claimed"] * 10
        # The consumer's blocking read hands it entries as they arrive: its batch is the
        # first 1 to 10 claims, the rest wait unread behind the lock.
        wait_for(lambda: r.xpending(stream, "persist")["pending"] >= 1, "a batch read by the consumer",
                 timeout=20)
        wait_for(lambda: lock_waiters(faults) >= 1, "the consumer's transaction waiting", timeout=10)
        (victim,) = r.xpending(stream, "persist")["consumers"]
        killed = faults.consumer.pid
        faults.consumer.kill()  # SIGKILL, mid-batch
        faults.consumer.popen.wait(10)
        faults.pg_proxy.cut()  # its connection is gone: PostgreSQL ends its transaction
        faults.pg_proxy.restore()
    finally:
        blocker.rollback()
        blocker.close()
    assert victim["name"].endswith(f"-{killed}") and 1 <= victim["pending"] <= 10
    assert coupon_users(faults, event_id) == []
    faults.consumer = faults.start_consumer("coupons-second", DATABASE_URL=faults.proxied_db_url)
    wait_for(lambda: len(coupon_users(faults, event_id)) == 10, "the batch taken over", timeout=45, interval=0.5)
    time.sleep(0.5)
    assert coupon_users(faults, event_id) == sorted(u.id for u in users)
    assert r.xpending(stream, "persist")["pending"] == 0


# --- RQ workers ---------------------------------------------------------------------------

class SlowHandler(FolderHandler):
    """An SMTP server that takes its time over DATA and keeps the message only if the
    client is still connected when it is done (as a server that has not yet said 250)."""

    def __init__(self, folder, delay: float):
        super().__init__(folder)
        self.delay = delay
        self.started = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.started.set()
        await asyncio.sleep(self.delay)
        if server.transport is None or server.transport.is_closing():
            return "421 client went away"
        return await super().handle_DATA(server, session, envelope)


def test_a_worker_killed_mid_email_is_rerun_by_another_and_sends_once(faults, tmp_path):
    """Rule: an email whose worker is SIGKILLed during the SMTP conversation is not lost:
    RQ's abandoned-job cleanup (StartedJobRegistry, run by any worker's maintenance)
    retries it, another worker sends it, the recipient gets it once (the slow server had
    not accepted it), and the email_log row says sent after 2 attempts."""
    from rq import Queue
    from rq.registry import StartedJobRegistry
    from rq.scheduler import RQScheduler

    from shop.extensions import db
    from shop.infra.mail import queue_email

    slow = SlowHandler(faults.mail_folder, delay=30)
    controller = Controller(slow, hostname="127.0.0.1", port=free_port())
    controller.start()
    app = faults.app(RQ_QUEUE="mail-kill")
    try:
        doomed = faults.start_worker("worker-doomed", RQ_QUEUE="mail-kill", MAIL_PORT=controller.port)
        with app.app_context():
            log_id = queue_email("killed@example.com", "password_changed", nickname="Mina").id
            db.session.commit()
        assert slow.started.wait(30), doomed.output()[-2000:]
        doomed.kill()  # SIGKILL mid-DATA
        doomed.popen.wait(10)
    finally:
        controller.stop()
    row = faults.sql("SELECT status, attempts FROM email_log WHERE id = %s", log_id)
    assert row == [("queued", 1)]  # the attempt is on record; it never finished
    assert faults.mail_to("killed@example.com") == []

    raw = faults.redis_raw()
    registry = StartedJobRegistry("mail-kill", connection=raw)
    assert any(f"email-{log_id}" in j for j in registry.get_job_ids(cleanup=False))  # abandoned there
    # Two clocks are fast-forwarded instead of waited for: the dead worker's entry in
    # StartedJobRegistry expires at its last heartbeat's deadline, after which any
    # worker's maintenance hands it to RQ's retry (the same cleanup call, run here as of
    # that deadline); and its scheduler lock (61 s TTL) must lapse before another
    # worker's scheduler enqueues the retry when it is due (MAIL_RETRY_INTERVALS[0] = 10 s).
    expires = max(score for _, score in raw.zrange(registry.key, 0, -1, withscores=True))
    assert expires - time.time() < 15 * 60  # RQ would find it within minutes, not never
    raw.delete(RQScheduler.get_locking_key("mail-kill"))
    registry.cleanup(timestamp=expires + 1)
    assert f"email-{log_id}".encode() in raw.zrange("rq:scheduled:mail-kill", 0, -1)
    rescuer = faults.start_worker("worker-rescuer", RQ_QUEUE="mail-kill")
    wait_for(lambda: faults.sql("SELECT status FROM email_log WHERE id = %s", log_id) == [("sent",)],
             "the rescued email", timeout=45, interval=0.5)
    time.sleep(0.5)
    assert len(faults.mail_to("killed@example.com")) == 1
    status, attempts, error, sent_at = faults.sql(
        "SELECT status, attempts, last_error, sent_at FROM email_log WHERE id = %s", log_id)[0]
    assert (status, attempts, error) == ("sent", 2, None) and sent_at is not None
    assert Queue("mail-kill", connection=raw).count == 0
    faults.stop_proc(rescuer)


def test_smtp_down_retries_then_fails_visibly_and_an_admin_resend_delivers(faults):
    """Rule: with SMTP down the delivery is retried, then the row is `failed` with the last
    error on the admin email log; once SMTP is back an admin's resend (POST
    /admin/emails/<id>/resend on any node) delivers it through a worker."""
    from shop.extensions import db
    from shop.infra.mail import queue_email

    from ..support.browser import run_jobs

    down = faults.app(RQ_QUEUE="smtp-down", MAIL_PORT=free_port(), MAIL_RETRY_INTERVALS=[0, 0])
    with down.app_context():
        log_id = queue_email("bounce@example.com", "password_changed", nickname="Mina").id
        db.session.commit()
    run_jobs(down)  # a burst worker in this process: first try and both retries, at once
    status, attempts, error = faults.sql("SELECT status, attempts, last_error FROM email_log WHERE id = %s",
                                         log_id)[0]
    assert (status, attempts) == ("failed", 3) and "Connection refused" in error

    (admin,) = make_users(faults.app(), 1, role="admin", prefix="mailadmin")
    v = visitor(faults)
    assert v.login(admin.email, node=0).status_code == 302
    page = v.get("/admin/emails?status=failed", node=1)
    assert page.status_code == 200 and "bounce@example.com" in page.text and "Connection refused" in page.text
    res = v.post(f"/admin/emails/{log_id}/resend", node=0)
    assert res.status_code in (302, 303)
    wait_for(lambda: faults.sql("SELECT status FROM email_log WHERE id = %s", log_id) == [("sent",)],
             "the resent email", timeout=30)
    status, attempts, error = faults.sql("SELECT status, attempts, last_error FROM email_log WHERE id = %s",
                                         log_id)[0]
    assert (status, attempts, error) == ("sent", 4, None)
    assert len(faults.mail_to("bounce@example.com")) == 1


def test_a_worker_killed_mid_vip_grading_leaves_nothing_half_and_the_rerun_grades_once(faults):
    """Rule: the monthly grading is one transaction; a worker SIGKILLed inside it (its
    inserts waiting on a lock the test holds) leaves no grade or point row, and the rerun
    (the next day's cron, or an admin's "run now") grades every user exactly once."""
    from rq import Queue

    from shop.extensions import db
    from shop.loyalty.grades import month_bounds, previous_month
    from shop.orders.models import Order, OrderLine
    from shop.timeutil import utcnow

    app = faults.app()
    (publisher,) = make_users(app, 1, role="publisher", prefix="vippub")
    game = make_game(app, publisher.id, "Gold Standard", price=60000)
    spenders = make_users(app, 3, prefix="vip")
    start, _ = month_bounds(*previous_month(utcnow()))
    paid_at = start + timedelta(days=3)
    with app.app_context():  # ₩60,000 paid last month each: SILVER
        for u in spenders:
            db.session.add(Order(user_id=u.id, status="PAID", subtotal=60000, total=60000, gateway="sandbox",
                                 expires_at=paid_at, paid_at=paid_at, created_at=paid_at,
                                 lines=[OrderLine(game_id=game.id, title=game.title, list_price=60000, price=60000)]))
        db.session.commit()
    ids = [u.id for u in spenders]

    doomed = faults.start_worker("worker-vip", RQ_QUEUE="vip-kill")
    raw = faults.redis_raw()
    blocker = faults.connect()
    try:
        blocker.execute("LOCK TABLE vip_grades IN SHARE MODE")  # the grading's INSERT waits on this
        job = Queue("vip-kill", connection=raw).enqueue("shop.loyalty.tasks.grade_previous_month")
        wait_for(lambda: job.get_status(refresh=True) == "started", "the grading job to start", timeout=30)
        wait_for(lambda: lock_waiters(faults) >= 1, "the grading transaction waiting", timeout=20)
        doomed.kill()  # SIGKILL inside the transaction
        doomed.popen.wait(10)
    finally:
        blocker.rollback()
        blocker.close()
    wait_for(lambda: lock_waiters(faults) == 0, "the dead worker's transaction to end", timeout=20)
    assert faults.scalar("SELECT count(*) FROM vip_grades WHERE user_id = ANY(%s)", ids) == 0
    assert faults.scalar("SELECT count(*) FROM point_entries WHERE user_id = ANY(%s)", ids) == 0

    run_job(faults, "shop.loyalty.tasks.grade_previous_month", timeout=60)  # the rerun
    run_job(faults, "shop.loyalty.tasks.grade_previous_month", timeout=60)  # once more: a no-op
    grades = faults.sql("SELECT user_id, grade FROM vip_grades WHERE user_id = ANY(%s) ORDER BY user_id", ids)
    assert grades == [(uid, "SILVER") for uid in sorted(ids)]
    balances = faults.sql("SELECT balance FROM point_balances WHERE user_id = ANY(%s)", ids)
    assert sorted(b for (b,) in balances) == [1000, 1000, 1000]
    assert faults.scalar("SELECT count(*) FROM point_entries WHERE user_id = ANY(%s)", ids) == 3


# --- the payment gateway ------------------------------------------------------------------

def _toss_order(faults, title: str):
    app = faults.app()
    (publisher,) = make_users(app, 1, role="publisher", prefix="tpub")
    game = make_game(app, publisher.id, title, price=22000)
    (buyer,) = make_users(app, 1, prefix="tbuyer")
    [v] = logged_in(faults, [buyer])
    assert v.post(f"/cart/{game.id}", node=0, htmx=True).status_code == 200
    page = v.post("/checkout", node=1)
    assert page.status_code == 200
    public_id = ORDER_ID.search(page.text).group(1)
    payment_key = faults.toss.authorize(public_id, 22000)
    return v, buyer, game, public_id, payment_key


def _state(faults, public_id, buyer, game):
    status = faults.scalar("SELECT status FROM orders WHERE public_id = %s", public_id)
    owned = faults.scalar("SELECT count(*) FROM library_entries WHERE user_id = %s AND game_id = %s "
                          "AND revoked_at IS NULL", buyer.id, game.id)
    return status, owned


def _success(v, public_id, payment_key, node):
    return v.get(f"/checkout/success?paymentKey={payment_key}&orderId={public_id}&amount=22000", node=node,
                 timeout=30)


@pytest.mark.parametrize("fault", ["500", "hang", "unreachable"])
def test_a_gateway_failing_at_confirm_leaves_the_order_awaiting_until_the_job_settles_it(faults, fault):
    """Rule: when Toss answers 500, hangs past TOSS_TIMEOUT, or cannot be reached at
    confirm, the buyer sees "confirming" (202), the order waits (AWAITING_CONFIRMATION)
    with no games granted, a second success redirect on the other node charges nothing
    new, and the reconcile job (a worker process) settles it once Toss answers: PAID,
    games granted, money taken exactly once."""
    toss = faults.toss
    v, buyer, game, public_id, payment_key = _toss_order(faults, f"Gateway {fault}")
    if fault == "500":
        toss.scenario("server_error", payment_key)
    elif fault == "hang":
        toss.scenario("slow", payment_key)  # hangs 3 s, then charges: the shop gave up after 1 s
    else:
        faults.toss_proxy.cut()
    try:
        res = _success(v, public_id, payment_key, node=0)
        assert res.status_code == 202 and "Confirming your payment" in res.text
        assert _state(faults, public_id, buyer, game) == ("AWAITING_CONFIRMATION", 0)
        assert _success(v, public_id, payment_key, node=1).status_code == 202  # a refresh on the other node
        if fault != "hang":
            assert toss.confirm_effects(payment_key) == 0
            summary = run_job(faults, "shop.orders.tasks.reconcile_payments")
            assert summary["waiting"] >= 1 and _state(faults, public_id, buyer, game) == ("AWAITING_CONFIRMATION", 0)
    finally:
        toss.clear(payment_key=payment_key)
        faults.toss_proxy.restore()
    if fault == "hang":
        wait_for(lambda: toss.confirm_effects(payment_key) == 1, "the hung confirm to finish at Toss", timeout=10)
    run_job(faults, "shop.orders.tasks.reconcile_payments")
    assert _state(faults, public_id, buyer, game) == ("PAID", 1)
    assert toss.confirm_effects(payment_key) == 1 and toss.cancel_effects(payment_key) == 0
    keys = {c.header("Idempotency-Key") for c in toss.calls_to("POST", "/v1/payments/confirm")
            if (c.body or {}).get("orderId") == public_id}
    assert keys <= {f"confirm-{public_id}"}
    run_job(faults, "shop.orders.tasks.reconcile_payments")  # again: nothing changes, nothing charged
    assert toss.confirm_effects(payment_key) == 1 and _state(faults, public_id, buyer, game) == ("PAID", 1)
    assert _success(v, public_id, payment_key, node=1).status_code == 302  # the success page now says paid
