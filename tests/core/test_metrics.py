"""GET /metrics (shop/infra/metrics.py): Prometheus text that a real parser reads, counters
that move with requests (in one process, and summed over gunicorn's worker processes in
multiprocess mode), scrape-time gauges, and the access rule (allowlist or token, else 404)."""
import ipaddress
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from shop.infra import metrics
from shop.web import sse

from ..support.env import DATABASE_URL, REDIS_URL, free_port

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = "playcation_http_request_duration_seconds"
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def samples(text: str) -> dict:
    """{(sample name, sorted labels): value} from the exposition, via prometheus_client's parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(client, **kw) -> dict:
    res = client.get("/metrics", **kw)
    assert res.status_code == 200, res.status_code
    assert res.headers["Content-Type"].startswith("text/plain; version=")
    return samples(res.get_data(as_text=True))


def count(found: dict, endpoint: str, status: str) -> float:
    return found.get((REQUESTS + "_count", (("endpoint", endpoint), ("status", status))), 0)


# --- one process (the test app) ------------------------------------------------------------

def test_scrape_parses_and_request_counters_move_by_endpoint_and_status_class(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/login").status_code == 200
    assert client.get("/games/no-such-page/at-all").status_code == 404
    after = scrape(client)
    assert count(after, "accounts.login", "2xx") - count(before, "accounts.login", "2xx") == 3
    assert count(after, "none", "4xx") - count(before, "none", "4xx") == 1
    # the histogram's buckets are there and cumulative: +Inf equals _count
    inf = after[(REQUESTS + "_bucket", (("endpoint", "accounts.login"), ("le", "+Inf"), ("status", "2xx")))]
    assert inf == count(after, "accounts.login", "2xx")
    assert after[(REQUESTS + "_sum", (("endpoint", "accounts.login"), ("status", "2xx")))] > 0


def test_rq_queue_depth_and_failed_jobs_are_read_at_scrape_time(client, app):
    queue = Queue("metrics-depth", connection=app.extensions["redis_raw"])
    for _ in range(2):
        queue.enqueue("os.getpid")
    found = scrape(client)
    assert found[("playcation_rq_queue_depth", (("queue", "metrics-depth"),))] == 2
    assert found[("playcation_rq_failed_jobs", (("queue", "metrics-depth"),))] == 0
    queue.empty()
    assert scrape(client)[("playcation_rq_queue_depth", (("queue", "metrics-depth"),))] == 0


def test_outbox_backlog_counts_queued_emails_until_they_are_sent(client, app, outbox):
    """A real queued email (an outbox row committed, its job in Redis) is backlog until
    the worker delivers it to the SMTP sink."""
    from shop.extensions import db
    from shop.infra.mail import queue_email

    from ..support.browser import run_jobs

    key = ("playcation_outbox_backlog", (("status", "queued"),))
    start = scrape(client)
    assert start[key] == 0 and start[("playcation_outbox_oldest_seconds", ())] == 0
    with app.app_context():
        queue_email("backlog@example.com", "password_changed", nickname="Mina")
        queue_email("backlog2@example.com", "password_changed", nickname="Jane")
        db.session.commit()
    queued = scrape(client)
    assert queued[key] == 2
    assert queued[("playcation_outbox_backlog", (("status", "retrying"),))] == 0
    assert 0 <= queued[("playcation_outbox_oldest_seconds", ())] < 60
    run_jobs(app)
    assert len(outbox.messages()) == 2
    assert scrape(client)[key] == 0


def test_scrape_still_answers_when_redis_is_unreachable():
    """The RQ gauges are skipped, nothing raises: the request metrics are what an
    operator needs most while Redis is down."""
    import redis as redis_lib

    dead = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.5)
    assert list(metrics.RqCollector(dead).collect()) == []
    text = metrics.exposition(dead).decode()
    assert REQUESTS in text and "playcation_rq_queue_depth" not in text


def test_open_sse_streams_gauge_follows_subscriptions(client, app):
    key = ("playcation_sse_open_streams", ())
    start = scrape(client)[key]
    hub = sse.get_hub(app.config["REDIS_URL"])
    subs = [hub.subscribe("broadcast:metrics-test") for _ in range(3)]
    assert scrape(client)[key] == start + 3
    subs[0].close()
    subs[0].close()  # the response's close and the generator's end both close it: counted once
    assert scrape(client)[key] == start + 2
    for sub in subs[1:]:
        sub.close()
    assert scrape(client)[key] == start


# --- access ----------------------------------------------------------------------------------

def test_outside_address_gets_404_and_the_token_lets_it_in(client, app, monkeypatch):
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-scrape-token")
    for wrong in ("Bearer nope", "Basic s3cret-scrape-token", "s3cret-scrape-token", "Bearer "):
        assert client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": wrong}).status_code == 404
    ok = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert ok.status_code == 200 and REQUESTS in ok.get_data(as_text=True)


def test_allowlist_is_configurable_and_the_default_is_loopback_only(client, app, monkeypatch):
    assert app.config["METRICS_ALLOW"] == "127.0.0.1/32"
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.2"}).status_code == 404
    monkeypatch.setitem(app.config, "METRICS_ALLOW", "10.0.0.0/8, 192.0.2.7")
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 404
    assert client.get("/metrics").status_code == 404  # loopback is no longer in the list


def test_a_request_relayed_by_an_untrusted_proxy_is_not_taken_for_local(client, app, monkeypatch):
    """Behind nginx on the same host every client arrives from 127.0.0.1."""
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    assert client.get("/metrics", headers={"Forwarded": "for=203.0.113.9"}).status_code == 404


def test_may_scrape_rule():
    loopback = metrics.allowed_networks("127.0.0.1/32")
    assert metrics.may_scrape({}, "127.0.0.1", loopback, None, False)
    assert not metrics.may_scrape({}, "not-an-ip", loopback, None, False)
    assert not metrics.may_scrape({}, None, loopback, None, False)
    assert not metrics.may_scrape({}, "::1", loopback, None, False)
    assert metrics.may_scrape({"X-Forwarded-For": "1.2.3.4"}, "127.0.0.1", loopback, None, True)
    assert metrics.may_scrape({"Authorization": "bearer t0k"}, "203.0.113.1", [], "t0k", False)
    assert metrics.allowed_networks("::1, 10.0.0.0/8") == [ipaddress.ip_network("::1/128"),
                                                            ipaddress.ip_network("10.0.0.0/8")]
    with pytest.raises(ValueError):
        metrics.allowed_networks("10.0.0.0/99")


def test_launcher_gives_only_the_web_process_an_emptied_metrics_dir(tmp_path):
    from shop.dev.server import METRICS_DIR, other_env, web_env

    folder = tmp_path / "prom"
    folder.mkdir()
    (folder / "histogram_4242.db").write_bytes(b"an earlier run")
    (folder / "README").write_text("not ours: kept")
    env = {"PATH": "/usr/bin", METRICS_DIR: str(folder)}
    assert web_env(env)[METRICS_DIR] == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["README"]
    assert other_env(env) == {"PATH": "/usr/bin"}  # worker, scheduler, consumer write no samples


# --- gunicorn: several worker processes, one scrape ----------------------------------------

def _workers(master: psutil.Process) -> set[int]:
    return {p.pid for p in master.children()}


def _wait(condition, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.no_db_isolation
def test_counters_are_summed_over_gunicorn_workers_including_exited_ones(app, tmp_path):
    """Two gevent workers (gunicorn.conf.py, WEB_CONCURRENCY=2) share a multiproc dir: a
    stale file there is removed at start; each worker answers some requests; then both
    workers are replaced (child_exit marks them dead) and a new one answers the scrape:
    the count is every request, whichever process served it."""
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"stale samples of an earlier run")
    port = free_port()
    env = dict(os.environ, APP_ENV="testing", DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL, RQ_QUEUE="test",
               WEB_CONCURRENCY="2", BIND=f"127.0.0.1:{port}", PROMETHEUS_MULTIPROC_DIR=str(multiproc),
               PYTHONPATH=str(ROOT), LOG_FORMAT="json")
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        master = psutil.Process(proc.pid)

        def up():
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
                return False

        _wait(up, what="gunicorn")
        assert not (multiproc / "counter_999999.db").exists()
        first = _workers(master)
        assert len(first) == 2
        served = 0

        def burst():
            nonlocal served
            with ThreadPoolExecutor(8) as pool:  # fresh connections, spread over the workers
                codes = list(pool.map(lambda _: requests.get(base + "/login", timeout=60).status_code, range(16)))
            assert codes == [200] * 16
            served += 16
            return {int(f.stem.rsplit("_", 1)[1]) for f in multiproc.glob("histogram_*.db")} >= first

        _wait(burst, timeout=90, what="both workers to answer requests")
        for pid in first:
            os.kill(pid, signal.SIGTERM)
        _wait(lambda: len(_workers(master)) == 2 and not _workers(master) & first, what="replacement workers")
        res = requests.get(base + "/metrics", timeout=60)
        assert res.status_code == 200
        found = samples(res.text)
        assert count(found, "accounts.login", "2xx") == served
        writers = {int(f.stem.rsplit("_", 1)[1]) for f in multiproc.glob("histogram_*.db")}
        assert first <= writers  # the exited workers' samples are still summed in
        # child_exit marked them dead: their live gauges (open SSE streams) are dropped
        assert not [f for pid in first for f in multiproc.glob(f"gauge_livesum_{pid}.db")]
        outside = requests.get(base + "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=60)
        assert outside.status_code == 404
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
