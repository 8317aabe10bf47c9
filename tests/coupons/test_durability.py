"""The coupon Redis must be durable (appendonly yes, appendfsync always, noeviction):
the app reads those settings with CONFIG GET, and without them an admin can't open or
grow a drop and the admin page says why. A private redis-server (scratch_redis) plays
the coupon Redis, so its settings are ours to change."""
from html import unescape

import pytest
import redis as redis_lib

from shop.coupons import durability, services
from shop.coupons.redis_state import CouponRedis

from .conftest import event_input
from .test_admin import events, field_error, form

DURABLE = {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}
LOSSY = {"appendonly": "no", "appendfsync": "everysec", "maxmemory-policy": "allkeys-lru"}


def configure(client, settings: dict):
    for name, value in settings.items():
        client.config_set(name, value)


@pytest.fixture
def coupon_redis_is(app, scratch_redis, monkeypatch):
    """coupon_redis_is(settings): the app's coupon Redis is the private server, configured
    so; durability is required as in production. Settings are put back afterwards."""
    monkeypatch.setitem(app.extensions, "coupon_redis", CouponRedis(scratch_redis))
    monkeypatch.setitem(app.config, "COUPON_REQUIRE_DURABLE_REDIS", True)
    app.extensions.pop("coupon_durability", None)

    def set_to(settings):
        configure(scratch_redis, settings)
        app.extensions.pop("coupon_durability", None)

    yield set_to
    configure(scratch_redis, {"appendonly": "no", "appendfsync": "everysec", "maxmemory-policy": "noeviction"})
    app.extensions.pop("coupon_durability", None)


def test_each_missing_setting_is_named(scratch_redis):
    configure(scratch_redis, LOSSY)
    try:
        found = durability.read_problems(scratch_redis)
        assert len(found) == 3
        assert "appendonly no; it must be yes" in found[0]
        assert "appendfsync everysec; it must be always" in found[1]
        assert "maxmemory-policy allkeys-lru; it must be noeviction" in found[2]
        configure(scratch_redis, DURABLE)
        assert durability.read_problems(scratch_redis) == []
    finally:
        configure(scratch_redis, {"appendonly": "no", "appendfsync": "everysec", "maxmemory-policy": "noeviction"})


def test_a_host_that_disables_config_is_reported_as_such(scratch_redis):
    """Managed hosts often rename or forbid CONFIG: an ACL user without it stands in."""
    scratch_redis.acl_setuser("noconfig", enabled=True, passwords=["+pw-noconfig"], keys=["*"], channels=["*"],
                              commands=["+@all", "-config"], reset=True)
    port = scratch_redis.connection_pool.connection_kwargs["port"]
    limited = redis_lib.Redis(host="127.0.0.1", port=port, username="noconfig", password="pw-noconfig")
    try:
        assert limited.ping()
        assert durability.read_problems(limited) == [durability.CONFIG_DISABLED]
    finally:
        limited.close()
        scratch_redis.acl_deluser("noconfig")


def test_unreachable_redis_is_a_problem_not_a_crash():
    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    assert durability.read_problems(dead) == [durability.UNREACHABLE]


def test_without_a_durable_redis_an_admin_cannot_open_a_drop_and_sees_why(app, admin, coupon_redis_is):
    coupon_redis_is(LOSSY)
    page = unescape(admin.get("/admin/coupons").get_data(as_text=True))
    assert 'id="coupon-redis-problems"' in page and "No drop can open or grow until this is fixed." in page
    assert "appendfsync everysec; it must be always" in page
    res = admin.post("/admin/coupons", form())
    assert res.status_code == 400
    assert "A drop can't open until the coupon Redis is durable" in field_error(res, "name")
    assert events(app) == []

    coupon_redis_is(DURABLE)
    page = admin.get("/admin/coupons").get_data(as_text=True)
    assert 'id="coupon-redis-problems"' not in page
    assert admin.post("/admin/coupons", form()).status_code == 302
    assert [e.name for e in events(app)] == ["Chuseok drop"]


def test_an_open_drop_can_close_but_not_grow_on_a_lossy_redis(app, coupon_redis_is):
    coupon_redis_is(DURABLE)
    with app.app_context():
        event = services.create_event(event_input(quantity=5))
        coupon_redis_is(LOSSY)
        data = {name: getattr(event, name) for name in services.EventInput.__dataclass_fields__}
        with pytest.raises(services.RedisNotDurable):
            services.update_event(event, services.EventInput(**{**data, "quantity": 6}))
        services.db.session.rollback()
        services.update_event(event, services.EventInput(**{**data, "closes_at": services.utcnow()}))
        assert event.window_state() == "closed"


def test_the_embedded_development_redis_is_durable(tmp_path):
    from shop.dev.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path)
    try:
        client = redis_lib.Redis.from_url(server.url)
        assert durability.read_problems(client) == []
        client.close()
    finally:
        server.stop()
