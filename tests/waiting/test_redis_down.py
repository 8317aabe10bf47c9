"""Redis unreachable: a room set to fail closed holds every visitor on a "try again"
page (503, Retry-After) and refuses claims; one set to fail open lets visitors in with a
pass. Redis is a real redis-server the test stops (tests/support/redis_outage.py)."""
import pytest

from shop.waiting.passes import pass_cookie

from ..support.redis_outage import redis_outage  # noqa: F401  (fixture)
from .conftest import Claimer


@pytest.fixture
def drop(app, redis_outage, monkeypatch):  # noqa: F811
    """An open drop on the outage's Redis (the coupon scripts rebound to it)."""
    from shop.coupons import services
    from shop.coupons.redis_state import CouponRedis

    monkeypatch.setitem(app.extensions, "coupon_redis", CouponRedis(app.extensions["redis_store"]))
    from .conftest import event_input

    from shop.coupons.fastlane import ClaimFastLane

    lane = app.wsgi_app if isinstance(app.wsgi_app, ClaimFastLane) else None
    if lane is not None:
        monkeypatch.setattr(lane, "ready", False)  # (re)starts on the outage's Redis
    with app.app_context():
        event_id = services.create_event(event_input(5)).id
    yield event_id
    if lane is not None:
        lane.ready = False  # and again on the suite's Redis, whatever it was before


def test_fail_closed_holds_everyone_and_refuses_claims(app, drop, make_room, make_users, redis_outage):  # noqa: F811
    room_id = make_room(drop, on_redis_down="closed", active_cap=5)
    (holder,) = Claimer.crowd(app, make_users(1))
    assert holder.browser.get(f"/waiting/{room_id}").status_code == 303  # admitted while Redis was up
    redis_outage.down()
    newcomer = app.test_client()
    res = newcomer.get(f"/waiting/{room_id}?next=/coupons/{drop}")
    assert res.status_code == 503 and res.headers["Retry-After"] == "10"
    assert "unavailable for a moment" in res.get_data(as_text=True)
    assert newcomer.get_cookie(pass_cookie(room_id)) is None
    assert newcomer.get(f"/coupons/{drop}").status_code == 302  # still held at the door
    claim = holder.claim(drop)
    assert claim.status_code == 503 and claim.get_json()["outcome"] == "waiting_room"
    redis_outage.up()
    assert app.test_client().get(f"/waiting/{room_id}").status_code == 303  # back: an empty line lets in


def test_fail_open_lets_visitors_in(app, drop, make_room, redis_outage):  # noqa: F811
    room_id = make_room(drop, on_redis_down="open", active_cap=1)
    redis_outage.down()
    visitor = app.test_client()
    res = visitor.get(f"/waiting/{room_id}?next=/coupons/{drop}")
    assert res.status_code == 303 and res.headers["Location"] == f"/coupons/{drop}"
    assert visitor.get_cookie(pass_cookie(room_id)) is not None
    assert visitor.get(f"/coupons/{drop}").status_code == 200
