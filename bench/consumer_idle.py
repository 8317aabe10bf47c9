#!/usr/bin/env python
"""Idle CPU of the coupon consumer: `python worker.py --coupons` with open drops and
nothing to persist, measured from the process's own CPU time (psutil cpu_times, user +
system) over --seconds.

    DATABASE_URL=postgresql+psycopg://… REDIS_URL=redis://…/N \\
        .venv/bin/python bench/consumer_idle.py --seconds 30 --events 3

It creates --events open coupon events in that database (deleted afterwards), starts the
consumer, waits for it to log "started" plus 2 s (its first refresh and sweep), measures,
and stops it. Prints one line: CPU seconds used, wall seconds, percent of one core.
"""
import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--events", type=int, default=3)
    args = p.parse_args()
    os.environ.setdefault("APP_ENV", "production")
    os.environ.setdefault("SECRET_KEY", "consumer-idle-bench-secret-0123456789")
    os.environ["COUPON_REQUIRE_DURABLE_REDIS"] = "0"  # measuring the consumer, not the Redis
    from sqlalchemy import delete

    from shop import create_app
    from shop.coupons import services
    from shop.coupons.models import CouponEvent
    from shop.extensions import db
    from shop.timeutil import utcnow

    app = create_app()
    now = utcnow()
    with app.app_context():
        ids = [services.create_event(services.EventInput(
            name=f"Idle bench {n}", discount_type="fixed", discount_value=1000, quantity=100,
            opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=1), valid_days=7)).id
            for n in range(args.events)]
    log_path = ROOT / "instance" / "consumer_idle.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "worker.py", "--coupons"], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while b"started" not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the consumer did not start:\n" + log_path.read_text())
            time.sleep(0.1)
        time.sleep(2.0)
        process = psutil.Process(proc.pid)
        before, t0 = process.cpu_times(), time.monotonic()
        time.sleep(args.seconds)
        after, wall = process.cpu_times(), time.monotonic() - t0
        used = (after.user - before.user) + (after.system - before.system)
        print(f"consumer idle with {args.events} open event(s): {used:.3f} CPU-s in {wall:.1f} s = "
              f"{100 * used / wall:.2f} % of one core")
    finally:
        proc.terminate()
        proc.wait(10)
        with app.app_context():
            db.session.execute(delete(CouponEvent).where(CouponEvent.id.in_(ids)))
            db.session.commit()
            for event_id in ids:
                services.coupon_redis().drop(event_id)


if __name__ == "__main__":
    main()
