"""Claiming: the stampede (exactly N issued, one per user), every outcome over JSON and
htmx, login/verification/CSRF, window edges, NOSCRIPT recovery, the local sold-out
flag and the per-user and per-IP rate limits. All against the real Redis."""
import random
import time
from collections import Counter
from datetime import timedelta

import pytest
import redis as redis_lib

from shop.coupons import services
from shop.coupons.consumer import drain_event
from shop.coupons.redis_state import CouponRedis, epoch_ms, keys
from shop.timeutil import utcnow

from ..support.browser import Browser
from .conftest import Claimer, coupon_rows, ip_of, purge, stampede

JSON = {"Accept": "application/json"}


def redis_view(redis, event_id):
    k = keys(event_id)
    return {"stock": int(redis.get(k["stock"])), "claimed": {int(u) for u in redis.smembers(k["claimed"])},
            "stream": redis.xlen(k["stream"])}


# --- the stampede -----------------------------------------------------------------------------

@pytest.mark.no_db_isolation
def test_stampede_of_1000_attempts_by_300_users_issues_exactly_100(app, redis, open_event, make_users):
    """N=100; 300 users press Claim 1,000 times in all (repeats included) on 16 threads,
    each user with their own client, cookie and IP → exactly 100 claimed, nobody twice."""
    users = make_users(300)
    event_id = open_event(quantity=100)
    try:
        claimers = Claimer.crowd(app, users, ip=lambda n: ip_of(n + 1))
        # 1,000 attempts: every user 3 times, the first 100 users a 4th time (under the 5/s limit).
        attempts = claimers * 3 + claimers[:100]
        random.Random(7).shuffle(attempts)
        assert len(attempts) == 1000

        def press(claimer):
            res = claimer.claim(event_id)
            return claimer.user.id, res.status_code, res.get_json()["outcome"]

        results = stampede(attempts, press, threads=4)

        outcomes = Counter(outcome for _, _, outcome in results)
        assert outcomes["claimed"] == 100
        assert set(outcomes) <= {"claimed", "already_claimed", "sold_out"}, outcomes
        assert {status for _, status, _ in results} == {200}
        winners = [uid for uid, _, outcome in results if outcome == "claimed"]
        assert len(set(winners)) == 100  # no user twice
        repeaters = {uid for uid, _, outcome in results if outcome == "already_claimed"}
        assert repeaters <= set(winners)  # "already claimed" is only ever said to a winner
        state = redis_view(redis, event_id)
        assert state == {"stock": 0, "claimed": set(winners), "stream": 100}

        with app.app_context():
            assert drain_event(event_id) == 100
        rows = coupon_rows(app, event_id)
        assert sorted(uid for uid, _ in rows) == sorted(winners)
    finally:
        purge(app, user_ids=[u.id for u in users], event_ids=[event_id])


def test_stampede_through_the_service_with_one_user_repeating(app, redis, open_event, make_users):
    """Many threads, one user: 40 simultaneous attempts → 1 claimed, the rest already claimed
    or rate limited; the stock drops by exactly one."""
    (user,) = make_users(1)
    event_id = open_event(quantity=5)

    def attempt(_):
        with app.app_context():
            return services.claim(event_id, user.id, "203.0.113.9")

    outcomes = Counter(stampede(range(40), attempt, threads=8))
    assert outcomes["claimed"] == 1
    assert set(outcomes) <= {"claimed", "already_claimed", "rate_limited"}
    assert redis_view(redis, event_id) == {"stock": 4, "claimed": {user.id}, "stream": 1}


# --- outcomes, over JSON and htmx ---------------------------------------------------------------

def test_every_outcome_over_json(app, redis, open_event, make_users):
    first, second = [Claimer(app, u) for u in make_users(2)]
    event_id = open_event(quantity=1)
    upcoming = open_event(opens_at=utcnow() + timedelta(minutes=5), closes_at=utcnow() + timedelta(hours=1))
    ended = open_event(opens_at=utcnow() - timedelta(hours=2), closes_at=utcnow() - timedelta(seconds=1))

    expected = [
        (first, event_id, "claimed", "Got it! The coupon is in your wallet."),
        (first, event_id, "already_claimed", "You already have this coupon."),
        (second, event_id, "sold_out", "All gone — this drop is sold out."),
        (second, upcoming, "not_open", "Not open yet. Come back when the drop starts."),
        (second, ended, "closed", "This drop has ended."),
    ]
    for claimer, event, outcome, message in expected:
        res = claimer.claim(event)
        assert res.status_code == 200 and res.mimetype == "application/json"
        assert res.get_json() == {"outcome": outcome, "message": message}
    assert redis_view(redis, event_id)["claimed"] == {first.user.id}
    assert redis_view(redis, upcoming)["stock"] == 10 and redis_view(redis, ended)["stock"] == 10


def test_every_outcome_as_an_htmx_fragment(app, open_event, make_users):
    first, second = [Claimer(app, u) for u in make_users(2)]
    event_id = open_event(quantity=1)
    upcoming = open_event(opens_at=utcnow() + timedelta(minutes=5), closes_at=utcnow() + timedelta(hours=1))
    ended = open_event(opens_at=utcnow() - timedelta(hours=2), closes_at=utcnow() - timedelta(seconds=1))

    for claimer, event, outcome, text in [(first, event_id, "claimed", "Got it!"),
                                          (first, event_id, "already_claimed", "You already have this coupon."),
                                          (second, event_id, "sold_out", "sold out"),
                                          (second, upcoming, "not_open", "Not open yet."),
                                          (second, ended, "closed", "This drop has ended.")]:
        res = claimer.claim(event, htmx=True)
        html = res.get_data(as_text=True)
        assert res.status_code == 200 and res.mimetype == "text/html"
        # The fragment replaces the button's form (hx-target="this", outerHTML): same id.
        assert f'id="claim-{event}"' in html and f"outcome-{outcome}" in html and text in html
        assert "<html" not in html
        assert ("Open your wallet" in html) == (outcome in ("claimed", "already_claimed"))


def test_event_page_shows_the_button_then_the_coupon(app, open_event, make_users, redis):
    (user,) = make_users(1)
    claimer = Claimer(app, user)
    event_id = open_event(quantity=3, description="Three coupons for early birds")
    page = claimer.open(event_id).get_data(as_text=True)
    assert "Three coupons for early birds" in page and "₩3,000 off" in page
    assert f'hx-post="/coupons/{event_id}/claim"' in page and 'sse-connect="/coupons/%d/stream"' % event_id in page
    # htmx 2 drops 4xx responses unless told otherwise: the "verify your email" (403) and
    # "slow down" (429) answers must still replace the button.
    assert 'data-swap-statuses="403 429"' in page  # honoured by static/js/app.js (no inline JS: CSP)
    assert '<span class="count" sse-swap="remaining">3</span>' in page
    assert claimer.outcome(event_id) == "claimed"
    assert '<span class="count" sse-swap="remaining">2</span>' in claimer.open(event_id).get_data(as_text=True)
    with app.app_context():
        drain_event(event_id)
    page = claimer.open(event_id).get_data(as_text=True)
    assert "You have this coupon." in page and "claim-button" not in page


def test_remaining_count_is_live_over_sse(app, client, open_event, make_users):
    """The event page's counter: an SSE stream on a broadcast channel, fed by the consumer."""
    from shop.coupons.consumer import publish_counts
    from shop.web.sse import get_hub

    from tests.support.env import REDIS_URL

    (user,) = make_users(1)
    event_id = open_event(quantity=5)
    res = client.get(f"/coupons/{event_id}/stream", buffered=False)
    assert res.status_code == 200 and res.mimetype == "text/event-stream"
    chunks = iter(res.response)
    assert "event: remaining\ndata: 5\n\n" in next(chunks).decode()
    assert get_hub(REDIS_URL).wait_ready()
    with app.app_context():
        assert services.claim(event_id, user.id) == "claimed"
        publish_counts([event_id], {})
    assert next(chunks).decode() == "event: remaining\ndata: 4\n\n"
    res.close()


# --- who may claim ---------------------------------------------------------------------------

def test_anonymous_visitors_are_sent_to_log_in(app, open_event, redis):
    event_id = open_event()
    anon = Browser(app)
    token = anon.csrf_token()
    res = anon.client.post(f"/coupons/{event_id}/claim", data={"csrf_token": token}, headers=JSON)
    assert res.status_code == 401 and res.get_json()["outcome"] == "login_required"
    res = anon.client.post(f"/coupons/{event_id}/claim", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert res.status_code == 200 and res.headers["HX-Redirect"] == f"/login?next=/coupons/{event_id}"
    res = anon.client.post(f"/coupons/{event_id}/claim", data={"csrf_token": token})
    assert res.status_code == 302 and res.headers["Location"].startswith("/login")
    assert redis_view(redis, event_id)["claimed"] == set()


def test_unverified_email_cannot_claim(app, open_event, make_users, redis):
    (user,) = make_users(1, verified=False)
    claimer = Claimer(app, user)
    event_id = open_event()
    res = claimer.claim(event_id)
    assert res.status_code == 403 and res.get_json()["outcome"] == "unverified"
    res = claimer.claim(event_id, htmx=True)
    assert res.status_code == 403 and "Verify your email" in res.get_data(as_text=True)
    assert redis_view(redis, event_id) == {"stock": 10, "claimed": set(), "stream": 0}


def test_claim_without_the_csrf_token_is_refused(app, open_event, make_users, redis):
    (user,) = make_users(1)
    claimer = Claimer(app, user)
    event_id = open_event()
    res = claimer.browser.client.post(f"/coupons/{event_id}/claim", headers=JSON)
    assert res.status_code == 400
    assert redis_view(redis, event_id)["claimed"] == set()


# --- the claim window, to the millisecond ------------------------------------------------------

def test_window_edges_to_the_millisecond(app, redis, open_event, make_users):
    """Open from opens_at inclusive to closes_at exclusive, in Redis and in the database alike."""
    opens = utcnow().replace(microsecond=250_000) + timedelta(minutes=10)
    closes = opens + timedelta(minutes=30)
    event_id = open_event(opens_at=opens, closes_at=closes)
    state = CouponRedis(redis)
    o, c = epoch_ms(opens), epoch_ms(closes)
    assert state.claim(event_id, 1, now_ms=o - 1) == "not_open"
    assert state.claim(event_id, 1, now_ms=o) == "claimed"
    assert state.claim(event_id, 2, now_ms=c - 1) == "claimed"
    assert state.claim(event_id, 3, now_ms=c) == "closed"
    with app.app_context():
        from shop.coupons.models import CouponEvent
        from shop.extensions import db

        event = db.session.get(CouponEvent, event_id)
        assert event.window_state(opens - timedelta(milliseconds=1)) == "upcoming"
        assert event.window_state(opens) == "open"
        assert event.window_state(closes - timedelta(milliseconds=1)) == "open"
        assert event.window_state(closes) == "closed"


def test_the_window_is_judged_by_redis_time_not_the_web_nodes_clock(app, redis, open_event, make_users,
                                                                     monkeypatch):
    """A web node whose clock is a day fast (or a day slow) still sees the drop open: the
    script asks Redis for the time. The stream entry carries Redis's time too."""
    import time as time_module

    users = make_users(2)
    event_id = open_event(quantity=5)
    real_time = time_module.time
    with app.app_context():
        monkeypatch.setattr(time_module, "time", lambda: real_time() + 86400)
        assert services.claim(event_id, users[0].id) == "claimed"
        monkeypatch.setattr(time_module, "time", lambda: real_time() - 86400)
        assert services.claim(event_id, users[1].id) == "claimed"
    monkeypatch.setattr(time_module, "time", real_time)
    seconds, micros = redis.time()
    redis_ms = seconds * 1000 + micros // 1000
    stamps = [int(fields["t"]) for _, fields in redis.xrange(keys(event_id)["stream"])]
    assert len(stamps) == 2 and all(abs(redis_ms - t) < 60_000 for t in stamps), (redis_ms, stamps)


def test_a_window_opening_now_is_claimable_at_once(app, open_event, make_users):
    (user,) = make_users(1)
    opens = utcnow() + timedelta(milliseconds=500)
    event_id = open_event(opens_at=opens, closes_at=opens + timedelta(hours=1))
    with app.app_context():
        first = services.claim(event_id, user.id)
        assert first == "not_open" or utcnow() >= opens  # (a slow machine may already be past it)
        time.sleep(max((opens - utcnow()).total_seconds(), 0) + 0.02)
        assert services.claim(event_id, user.id) == "claimed"


def test_drop_list_shows_open_and_upcoming_events(app, client, open_event):
    open_event(quantity=8, name="Open now")
    open_event(name="Later", opens_at=utcnow() + timedelta(days=1), closes_at=utcnow() + timedelta(days=2))
    open_event(name="Over", opens_at=utcnow() - timedelta(days=2), closes_at=utcnow() - timedelta(days=1))
    page = client.get("/coupons").get_data(as_text=True)
    assert "Open now" in page and "8 of 8 left" in page
    assert "Later" in page and "Opens " in page
    assert "Over" not in page


# --- NOSCRIPT -------------------------------------------------------------------------------

def test_claims_survive_a_lost_script_cache(scratch_redis):
    """SCRIPT FLUSH (what a Redis restart or failover does to the cache): the next claim
    gets NOSCRIPT, loads the script again and goes through. A private redis-server, so
    other suites' scripts on the shared one are untouched."""
    state = CouponRedis(scratch_redis)
    now = utcnow()
    state.sync(901, now - timedelta(minutes=1), now + timedelta(hours=1), 3)
    assert state.claim(901, 1) == "claimed"
    sha = state._claim.sha
    assert scratch_redis.script_exists(sha) == [True]
    scratch_redis.script_flush()
    assert scratch_redis.script_exists(sha) == [False]
    assert state.claim(901, 2) == "claimed"
    assert scratch_redis.script_exists(sha) == [True]
    scratch_redis.script_flush()
    assert state.claim(901, 2) == "already_claimed"
    assert state.sync(901, now - timedelta(minutes=1), now + timedelta(hours=1), 5) == 3  # SYNC too
    assert state.stock(901) == 3 and state.claimed_users(901) == {1, 2}


def test_http_claims_survive_a_lost_script_cache(app, scratch_redis, open_event, make_users, monkeypatch):
    """The same through the claim endpoint, with the app's coupon scripts on the private server."""
    monkeypatch.setitem(app.extensions, "coupon_redis", CouponRedis(scratch_redis))
    first, second = [Claimer(app, u) for u in make_users(2)]
    event_id = open_event(quantity=5)
    assert first.outcome(event_id) == "claimed"
    scratch_redis.script_flush()
    assert second.outcome(event_id) == "claimed"
    assert scratch_redis.scard(keys(event_id)["claimed"]) == 2
    assert scratch_redis.script_exists(CouponRedis(scratch_redis)._claim.sha) == [True]


# --- sold out: a local flag, no Redis ------------------------------------------------------------

def test_after_sold_out_claims_do_not_reach_redis(app, open_event, make_users, monkeypatch):
    users = make_users(4)
    event_id = open_event(quantity=1)
    monkeypatch.setitem(app.config, "COUPON_SOLD_OUT_CACHE_SECONDS", 0.3)
    calls = []
    real_claim = CouponRedis.claim

    def counting_claim(self, *args, **kwargs):
        calls.append(args[0])
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(CouponRedis, "claim", counting_claim)
    with app.app_context():
        assert services.claim(event_id, users[0].id) == "claimed"
        assert services.claim(event_id, users[1].id) == "sold_out"
        assert len(calls) == 2
        # The flag is cached once the process follows restocks (its hub subscription is
        # live; on a loaded machine the hub may still be connecting).
        deadline = time.monotonic() + 10
        while not services.sold_out_cached(event_id):
            assert time.monotonic() < deadline, "the process never followed restocks"
            time.sleep(0.05)
            assert services.claim(event_id, users[1].id) == "sold_out"
        del calls[2:]
        for _ in range(50):
            assert services.claim(event_id, users[2].id) == "sold_out"
        assert len(calls) == 2  # 50 attempts, no Redis round trip
        time.sleep(0.35)  # the flag expires: Redis is asked again
        assert services.claim(event_id, users[2].id) == "sold_out"
        assert len(calls) == 3


def test_raising_the_quantity_clears_the_sold_out_flag(app, open_event, make_users):
    users = make_users(2)
    event_id = open_event(quantity=1)
    with app.app_context():
        assert services.claim(event_id, users[0].id) == "claimed"
        assert services.claim(event_id, users[1].id) == "sold_out"
        from shop.coupons.models import CouponEvent
        from shop.extensions import db

        event = db.session.get(CouponEvent, event_id)
        data = {name: getattr(event, name) for name in services.EventInput.__dataclass_fields__}
        services.update_event(event, services.EventInput(**{**data, "quantity": 2}))
        assert services.claim(event_id, users[1].id) == "claimed"


def test_a_restock_by_another_process_clears_the_sold_out_flag_at_once(app, redis, open_event, make_users):
    """Another process raises the quantity (its CouponRedis.sync publishes the restock):
    this process's sold-out flag, good for 30 s here, is gone within 100 ms and the next
    claim goes through. The flag is cached only while the process follows restocks."""
    users = make_users(3)
    event_id = open_event(quantity=1)
    with app.app_context():
        app.config["COUPON_SOLD_OUT_CACHE_SECONDS"] = 30
        other_process = None
        try:
            assert services.claim(event_id, users[0].id) == "claimed"
            assert services.claim(event_id, users[1].id) == "sold_out"
            # The flag is cached once the process follows restocks: its hub subscription is
            # live (on a loaded machine the hub may be reconnecting for a moment).
            deadline = time.monotonic() + 10
            while not services.sold_out_cached(event_id):
                assert time.monotonic() < deadline, "the process never followed restocks"
                time.sleep(0.05)
                assert services.claim(event_id, users[1].id) == "sold_out"
            from shop.coupons.models import CouponEvent
            from shop.extensions import db

            event = db.session.get(CouponEvent, event_id)
            other_process = CouponRedis(redis_lib.Redis.from_url(app.config["REDIS_URL"], decode_responses=True))
            other_process.sync(event_id, event.opens_at, event.closes_at, 3)
            raised = time.monotonic()
            while services.sold_out_cached(event_id) and time.monotonic() - raised < 2:
                time.sleep(0.005)
            assert time.monotonic() - raised < 0.1
            assert services.claim(event_id, users[2].id) == "claimed"
        finally:
            app.config["COUPON_SOLD_OUT_CACHE_SECONDS"] = 2.0
            if other_process is not None:
                other_process.client.close()


# --- rate limits -------------------------------------------------------------------------------

def test_per_user_rate_limit(app, open_event, make_users, redis):
    """5 attempts a second per user and event; the 6th gets 429, a second later it's fine."""
    (user,) = make_users(1)
    claimer = Claimer(app, user)
    event_id = open_event()
    other_event = open_event()
    outcomes = [claimer.claim(event_id) for _ in range(6)]
    assert [r.get_json()["outcome"] for r in outcomes] == ["claimed"] + ["already_claimed"] * 4 + ["rate_limited"]
    assert outcomes[-1].status_code == 429
    assert outcomes[-1].get_json()["message"] == "Too many attempts. Wait a second and try again."
    res = claimer.claim(event_id, htmx=True)  # the button becomes the message plus a "Try again" button
    html = res.get_data(as_text=True)
    assert res.status_code == 429 and "Too many attempts" in html
    assert f'<form id="claim-{event_id}"' in html and f'hx-post="/coupons/{event_id}/claim"' in html
    assert "Try again</button>" in html and 'name="csrf_token"' in html
    assert claimer.outcome(other_event) == "claimed"  # counted per event
    time.sleep(1.05)
    assert claimer.outcome(event_id) == "already_claimed"


def test_per_ip_rate_limit(app, open_event, make_users, monkeypatch, redis):
    monkeypatch.setitem(app.config, "COUPON_IP_PER_SECOND", 3)
    users = make_users(5)
    event_id = open_event()
    same_ip = [Claimer(app, u, ip="198.51.100.7") for u in users[:4]]
    outcomes = [c.outcome(event_id) for c in same_ip]
    assert outcomes == ["claimed", "claimed", "claimed", "rate_limited"]
    assert Claimer(app, users[4], ip="198.51.100.8").outcome(event_id) == "claimed"
    assert redis_view(redis, event_id)["claimed"] == {u.id for u in users[:3]} | {users[4].id}


def test_unknown_event_ids_are_remembered_briefly(app, make_users, monkeypatch):
    """A bot cycling through event ids gets 404s without a database read each time."""
    from shop.coupons import services

    (user,) = make_users(1)
    reads = []
    original = services.rebuild
    monkeypatch.setattr(services, "rebuild", lambda event_id, *args: reads.append(event_id) or original(event_id, *args))
    with app.app_context():
        for _ in range(3):
            with pytest.raises(services.NoSuchEvent):
                services.claim(987_654, user.id)
    assert reads == [987_654]
    services._missing[987_654] = 0  # expired: asked again
    with app.app_context(), pytest.raises(services.NoSuchEvent):
        services.claim(987_654, user.id)
    assert reads == [987_654, 987_654]
    services._missing.clear()
