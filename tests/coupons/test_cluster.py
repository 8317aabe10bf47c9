"""The Lua scripts on a real 3-node Redis Cluster (started by the `redis_cluster` fixture):
every key of an event hashes to one slot, so CLAIM and SYNC run unchanged whichever node
owns the event — and the claim path, the consumer and the rebuild run on it as they do
on a single Redis."""
from datetime import timedelta

import pytest
from redis.exceptions import RedisClusterException, ResponseError

from shop.coupons import services
from shop.coupons.consumer import drain_event
from shop.coupons.redis_state import CLAIM, GROUP, CouponRedis, epoch_ms, ip_key, keys, rate_key
from shop.timeutil import utcnow

from .conftest import coupon_rows, drop_event_keys, stampede


def window(minutes_ago=1, hours_left=1):
    now = utcnow()
    return now - timedelta(minutes=minutes_ago), now + timedelta(hours=hours_left)


def event_per_node(cluster, start=1000) -> dict[int, int]:
    """An event id whose slot lives on each node: {port: event id}."""
    found = {}
    event_id = start
    while len(found) < len(cluster.ports):
        port = cluster.client.get_node_from_key(keys(event_id)["meta"]).port
        found.setdefault(port, event_id)
        event_id += 1
    return found


def test_all_keys_of_an_event_share_one_slot(redis_cluster):
    client = redis_cluster.client
    for event_id in (1, 42, 99999):
        names = [*keys(event_id).values(), rate_key(event_id, 7), ip_key(event_id, "2001:db8::1"),
                 f"coupon:{{{event_id}}}:rebuild"]
        assert len({client.keyslot(name) for name in names}) == 1
    assert len({client.keyslot(keys(e)["meta"]) for e in range(1, 50)}) > 1  # events spread over slots


def test_claim_and_sync_on_every_node(redis_cluster):
    client = redis_cluster.client
    state = CouponRedis(client)
    opens, closes = window()
    for port, event_id in event_per_node(redis_cluster).items():
        assert state.sync(event_id, opens, closes, 3) == 3
        outcomes = [state.claim(event_id, user_id) for user_id in (1, 2, 3, 4)]
        assert outcomes == ["claimed", "claimed", "claimed", "sold_out"]
        assert state.claim(event_id, 2) == "already_claimed"
        assert state.claim(event_id, 5, now_ms=epoch_ms(opens) - 1) == "not_open"
        assert state.claim(event_id, 5, now_ms=epoch_ms(closes)) == "closed"
        node = redis_cluster.nodes[redis_cluster.ports.index(port)]
        assert node.xlen(keys(event_id)["stream"]) == 3 and node.get(keys(event_id)["stock"]) == "0"
        assert [g["name"] for g in node.xinfo_groups(keys(event_id)["stream"])] == [GROUP]
        assert state.sync(event_id, opens, closes, 5) == 2  # quantity raised
        assert state.claim(event_id, 4) == "claimed"


def test_rate_limits_on_the_cluster(redis_cluster):
    state = CouponRedis(redis_cluster.client)
    event_id = 3001
    state.sync(event_id, *window(), 100)
    assert [state.claim(event_id, 1, user_per_second=2) for _ in range(3)] == \
        ["claimed", "already_claimed", "rate_limited"]
    assert [state.claim(event_id, u, ip="10.9.9.9", ip_per_second=2) for u in (2, 3, 4)] == \
        ["claimed", "claimed", "rate_limited"]


def test_concurrent_claims_on_the_cluster(redis_cluster):
    """N=50; 300 attempts from 150 users on 16 threads → exactly 50, nobody twice."""
    state = CouponRedis(redis_cluster.client)
    event_id = 3002
    state.sync(event_id, *window(), 50)
    attempts = [u for u in range(1, 151)] * 2
    results = stampede(attempts, lambda u: (u, state.claim(event_id, u, ip=f"10.0.{u}.1")), threads=16)
    winners = [u for u, outcome in results if outcome == "claimed"]
    assert len(winners) == 50 and len(set(winners)) == 50
    assert {outcome for _, outcome in results} <= {"claimed", "already_claimed", "sold_out"}
    assert state.claimed_users(event_id) == set(winners) and state.stock(event_id) == 0


def test_lost_script_cache_on_every_node(redis_cluster):
    state = CouponRedis(redis_cluster.client)
    opens, closes = window()
    events = event_per_node(redis_cluster, start=5000)
    for event_id in events.values():
        state.sync(event_id, opens, closes, 5)
        assert state.claim(event_id, 1) == "claimed"
    for node in redis_cluster.nodes:
        node.script_flush()
        assert node.script_exists(state._claim.sha) == [False]
    for port, event_id in events.items():
        assert state.claim(event_id, 2) == "claimed"  # NOSCRIPT → loaded again → claimed
        node = redis_cluster.nodes[redis_cluster.ports.index(port)]
        assert node.script_exists(state._claim.sha) == [True]
    for node in redis_cluster.nodes:
        node.script_flush()
    assert state.sync(opens=opens, closes=closes, event_id=next(iter(events.values())), quantity=6) == 4


def test_keys_without_the_hash_tag_would_not_run(redis_cluster):
    """What the tag prevents: the same script over keys in different slots is refused."""
    client = redis_cluster.client
    untagged = ["coupon:1:meta", "coupon:1:stock", "coupon:1:claimed", "coupon:1:issued", "coupon:1:rl:1",
                "coupon:1:ip:x"]
    assert len({client.keyslot(k) for k in untagged}) > 1
    with pytest.raises((RedisClusterException, ResponseError)):
        client.register_script(CLAIM)(keys=untagged, args=[1, 0, 5, 5])


# --- the app on the cluster -------------------------------------------------------------------

@pytest.fixture
def app_on_cluster(app, redis_cluster, monkeypatch):
    """The app's coupon Redis (claims, stream, rebuild lock, publish) pointed at the cluster."""
    monkeypatch.setitem(app.extensions, "redis_store", redis_cluster.client)
    monkeypatch.setitem(app.extensions, "coupon_redis", CouponRedis(redis_cluster.client))
    return app


def test_claim_persist_and_rebuild_on_the_cluster(app_on_cluster, redis_cluster, open_event, make_users):
    app = app_on_cluster
    users = make_users(4)
    event_id = open_event(quantity=3)
    with app.app_context():
        assert [services.claim(event_id, u.id) for u in users[:2]] == ["claimed", "claimed"]
        drain_event(event_id, crash_before_ack=True, consumer="a")
        assert drain_event(event_id, consumer="b", claim_idle_ms=0) == 2  # takeover, on the cluster too
    assert len(coupon_rows(app, event_id)) == 2
    drop_event_keys(redis_cluster.client, event_id)
    with app.app_context():
        assert services.claim(event_id, users[0].id) == "already_claimed"  # rebuilt: stock 3 − 2
        assert services.claim(event_id, users[2].id) == "claimed"
        assert services.claim(event_id, users[3].id) == "sold_out"
        assert drain_event(event_id) == 1
        report = services.reconcile(event_id)
    assert report[0]["db_issued"] == 3 and report[0]["stock"] == 0
    assert sorted(uid for uid, _ in coupon_rows(app, event_id)) == sorted(u.id for u in users[:3])
