"""/metrics, read with prometheus_client's parser: a real claim moves the claims
counter and the unpersisted gauges; the consumer's commit moves them back and adds the
claim's lag (stream -> database) to the persist-lag histogram, kept in Redis because the
consumer is its own process."""
from prometheus_client.parser import text_string_to_metric_families

from shop.coupons.consumer import drain_event

from .test_fastlane import Paths, logged_in

LAG = "playcation_coupon_persist_lag_seconds"


def scrape(client) -> dict:
    res = client.get("/metrics")
    assert res.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(res.get_data(as_text=True)) for s in family.samples}


def test_a_claim_shows_as_unpersisted_then_as_lag_once_the_consumer_writes_it(app, client, open_event, make_users,
                                                                             monkeypatch):
    (a, b) = logged_in(app, make_users)
    event_id = open_event(quantity=5)
    paths = Paths(app, monkeypatch)
    before = scrape(client)
    assert before[("playcation_coupon_unpersisted", ())] == 0
    assert paths.flask(lambda: a.claim(event_id)).get_json()["outcome"] == "claimed"
    assert paths.fast(lambda: b.claim(event_id)).get_json()["outcome"] == "claimed"
    waiting = scrape(client)
    claimed = waiting[("playcation_coupon_claims_total", (("lane", "app"), ("outcome", "claimed")))]
    assert claimed - before.get(("playcation_coupon_claims_total", (("lane", "app"), ("outcome", "claimed"))), 0) == 1
    assert waiting[("playcation_coupon_unpersisted", ())] == 2
    assert 0 <= waiting[("playcation_coupon_unpersisted_oldest_seconds", ())] < 60
    assert waiting.get((LAG + "_count", ()), 0) == before.get((LAG + "_count", ()), 0)

    with app.app_context():
        assert drain_event(event_id, consumer="metrics-test") == 2
    after = scrape(client)
    assert after[("playcation_coupon_unpersisted", ())] == 0
    assert after[("playcation_coupon_unpersisted_oldest_seconds", ())] == 0
    assert after[(LAG + "_count", ())] - before.get((LAG + "_count", ()), 0) == 2
    assert after[(LAG + "_sum", ())] > before.get((LAG + "_sum", ()), 0)
    assert after[(LAG + "_bucket", (("le", "+Inf"),))] == after[(LAG + "_count", ())]


def test_delivered_but_unacknowledged_claims_still_count_as_unpersisted(app, client, open_event, make_users,
                                                                       monkeypatch):
    """A consumer that read the entries and died before its commit: they are pending,
    not written, and the gauge says so."""
    (a,) = logged_in(app, make_users, 1)
    event_id = open_event(quantity=5)
    assert Paths(app, monkeypatch).flask(lambda: a.claim(event_id)).get_json()["outcome"] == "claimed"
    redis = app.extensions["redis_raw"]
    from shop.coupons.redis_state import GROUP, keys

    redis.xreadgroup(GROUP, "died", {keys(event_id)["stream"]: ">"}, count=10)
    assert scrape(client)[("playcation_coupon_unpersisted", ())] == 1
