"""Background processes.

  python worker.py               RQ worker (emails, jobs)
  python worker.py --scheduler   rq-scheduler with the store's cron entries
  python worker.py --coupons     coupon persistence: drains claim streams into the database
"""
import logging
import sys
import time

import redis

from shop import create_app
from shop.infra.jobs import run_scheduler, run_worker

log = logging.getLogger("worker")


def wait_for_redis(app, sleep=time.sleep, max_delay: float = 30.0):
    """Block until Redis answers. A worker started while Redis is down (a host reboot
    brings processes up in any order) waits with a clear log line instead of exiting
    with a traceback; once running, RQ rides out outages by itself."""
    from shop.infra.redisconn import redis_clients

    delay = 0.5
    with app.app_context():
        while True:
            try:
                redis_clients.raw.ping()
                return
            except redis.RedisError as exc:
                log.warning("Redis at %s is not answering (%s); retrying in %.0f s",
                            app.config["REDIS_URL"], exc.__class__.__name__, delay)
                sleep(delay)
                delay = min(delay * 2, max_delay)


def main(argv):
    app = create_app()
    wait_for_redis(app)
    if "--scheduler" in argv:
        run_scheduler(app)
    elif "--coupons" in argv:
        from shop.coupons.consumer import run_forever

        run_forever(app)
    else:
        run_worker(app)


if __name__ == "__main__":
    main(sys.argv[1:])
