"""Coupon claims are counted by outcome and lane in /metrics, whether the fast lane
(coupons/fastlane.py) answers them outside Flask or the view does."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .test_fastlane import Paths, logged_in

CLAIMS = "playcation_coupon_claims_total"


def claims(client) -> dict:
    res = client.get("/metrics")
    assert res.status_code == 200
    return {(s.labels["outcome"], s.labels["lane"]): s.value
            for family in text_string_to_metric_families(res.get_data(as_text=True))
            for s in family.samples if s.name == CLAIMS}


@pytest.fixture
def paths(app, monkeypatch):
    return Paths(app, monkeypatch)


def moved(before: dict, after: dict) -> dict:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def test_fast_lane_claims_are_counted_by_outcome(app, client, paths, open_event, make_users):
    a, b = logged_in(app, make_users)
    event_id = open_event(quantity=1)
    before = claims(client)
    assert paths.fast(lambda: a.claim(event_id)).get_json()["outcome"] == "claimed"
    assert paths.fast(lambda: a.claim(event_id)).get_json()["outcome"] == "already_claimed"
    assert paths.fast(lambda: b.claim(event_id)).get_json()["outcome"] == "sold_out"
    assert paths.fast(lambda: b.claim(event_id, htmx=True, json=False)).status_code == 200  # sold out again
    assert moved(before, claims(client)) == {("claimed", "fast"): 1, ("already_claimed", "fast"): 1,
                                             ("sold_out", "fast"): 2}


def test_claims_the_view_answers_are_counted_as_the_app_lane(app, client, paths, open_event, make_users):
    (a,) = logged_in(app, make_users, 1)
    (unverified,) = logged_in(app, make_users, 1, verified=False, ip=lambda k: "198.51.100.77")
    event_id = open_event(quantity=5)
    before = claims(client)
    assert paths.flask(lambda: a.claim(event_id)).get_json()["outcome"] == "claimed"
    assert paths.fast(lambda: unverified.claim(event_id)).status_code == 403  # the lane answers this one
    assert paths.flask(lambda: unverified.claim(event_id)).status_code == 403
    anonymous = app.test_client().post(f"/coupons/{event_id}/claim", headers={"Accept": "application/json"})
    assert anonymous.status_code in (400, 401)  # no session: CSRF refuses first, or login is required
    assert moved(before, claims(client)) == {("claimed", "app"): 1, ("unverified", "fast"): 1,
                                             ("unverified", "app"): 1}
