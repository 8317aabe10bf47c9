"""Every Redis client works on each URL form the store is given: `unix://` (the
embedded redis-server of `make run`), `redis://` and `rediss://` (TLS).

Each form gets a real redis-server of its own. The live-notification hub is the client
that broke on the socket (a TCP-only keyword raised TypeError in its listener thread),
so it is tested end to end: subscribe, publish, receive.
"""
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_lib

from shop import create_app
from shop.config import TestingConfig
from shop.infra.redisconn import redis_clients
from shop.infra import redisconn
from shop.web.sse import Hub, user_channel

from tests.support.env import DATABASE_URL, free_port

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason="redis-server is not on PATH")


def _start(args: list[str], folder: Path) -> subprocess.Popen:
    return subprocess.Popen([REDIS_SERVER, "--save", "", "--appendonly", "no", "--dir", str(folder), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(url: str):
    deadline = time.monotonic() + 10
    while True:
        try:
            redisconn.client(url, socket_connect_timeout=1).ping()
            return
        except redis_lib.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="module", params=["unix", "redis", "rediss"])
def redis_url(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"redis-{request.param}")
    if request.param == "unix":
        sock = folder / "redis.sock"
        proc = _start(["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"], folder)
        url = f"unix://{sock}"
    elif request.param == "redis":
        port = free_port()
        proc = _start(["--port", str(port), "--bind", "127.0.0.1"], folder)
        url = f"redis://127.0.0.1:{port}/0"
    else:
        cert, key = folder / "cert.pem", folder / "key.pem"
        made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                               "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], capture_output=True)
        if made.returncode:
            pytest.skip("openssl could not make a certificate")
        port = free_port()
        proc = _start(["--port", "0", "--bind", "127.0.0.1", "--tls-port", str(port), "--tls-cert-file", str(cert),
                       "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"],
                      folder)
        url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}&ssl_check_hostname=false"
    try:
        _wait(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_hub_delivers_a_published_message(redis_url):
    hub = Hub(redis_url)
    sub = hub.subscribe(user_channel(7))
    try:
        assert hub.wait_ready(10), "the hub's listener never subscribed"
        redisconn.client(redis_url).publish(user_channel(7), "42")
        assert sub.get(timeout=10) == (user_channel(7), "42")
    finally:
        sub.close()


def test_the_apps_clients_rq_and_rate_limits_work(redis_url, tmp_path):
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL, REDIS_URL=redis_url,
                     UPLOAD_DIR=str(tmp_path), RQ_QUEUE="redis-url-test")
    with app.app_context():
        redis_clients.store.set("k", "v")
        assert redis_clients.store.get("k") == "v"
        assert redis_clients.raw.get("k") == b"v"
        from shop.infra.jobs import get_queue

        job = get_queue().enqueue("builtins.len", "abc")
        assert get_queue().fetch_job(job.id) is not None
        from shop.extensions import limiter

        assert limiter.storage.check(), "Flask-Limiter cannot reach its Redis storage"


@pytest.mark.parametrize("url, kept", [
    ("unix:///tmp/r.sock", {"socket_connect_timeout": 1}),
    ("redis://127.0.0.1:6379/0", {"socket_connect_timeout": 1, "socket_keepalive": True}),
    ("rediss://127.0.0.1:6379/0", {"socket_connect_timeout": 1, "socket_keepalive": True}),
])
def test_options_are_filtered_by_scheme(url, kept):
    assert redisconn.options_for(url, socket_connect_timeout=1, socket_keepalive=True) == kept


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="redis://, rediss:// or unix://"):
        redisconn.client("http://127.0.0.1:6379")


def test_an_idle_hub_stops_its_listener_when_redis_goes_and_starts_it_for_the_next_stream(tmp_path):
    """With no stream open and Redis gone, the listener ends instead of retrying (and
    logging) forever; the next subscribe starts one again, and it delivers."""
    port = free_port()
    argv = ["--port", str(port), "--bind", "127.0.0.1"]
    proc = _start(argv, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    _wait(url)
    hub = Hub(url)
    sub = hub.subscribe(user_channel(1))
    try:
        assert hub.wait_ready(10)
        sub.close()
        first = hub._thread
        proc.kill()
        proc.wait(10)
        first.join(15)
        assert not first.is_alive(), "an idle listener kept retrying a Redis that is gone"
        proc = _start(argv, tmp_path)
        _wait(url)
        sub = hub.subscribe(user_channel(2))
        assert hub.wait_ready(10)
        redisconn.client(url).publish(user_channel(2), "back")
        assert sub.get(timeout=10) == (user_channel(2), "back")
    finally:
        sub.close()
        proc.kill()
        proc.wait(10)


def test_a_busy_pool_raises_pool_busy_and_serves_once_a_connection_is_back(redis_url, tmp_path):
    """The app's clients wait for a free connection, and past the wait raise PoolBusy (a
    ConnectionError, told apart from Redis being down by its class) on every URL form."""
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL, REDIS_URL=redis_url,
                     UPLOAD_DIR=str(tmp_path), REDIS_MAX_CONNECTIONS=1, REDIS_POOL_TIMEOUT=0.05)
    with app.app_context():
        pool = redis_clients.store.connection_pool
        held = pool.get_connection()
        with pytest.raises(redisconn.PoolBusy) as busy:
            redis_clients.store.get("k")
        assert isinstance(busy.value, redis_lib.ConnectionError)
        pool.release(held)
        redis_clients.store.set("k", "back")
        assert redis_clients.store.get("k") == "back"
