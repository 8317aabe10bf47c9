"""Background processes.

  python worker.py               RQ worker (emails, jobs)
  python worker.py --scheduler   rq-scheduler with the store's cron entries
  python worker.py --coupons     coupon persistence: drains claim streams into the database
  python worker.py --admissions  waiting-room admission: advances every enabled room each second
"""
import logging
import sys


from shop import create_app
from shop.infra.jobs import run_scheduler, run_worker, wait_for_redis  # noqa: F401  (wait_for_redis: tests)

log = logging.getLogger("worker")


def main(argv):
    app = create_app()
    wait_for_redis(app)
    if "--scheduler" in argv:
        run_scheduler(app)
    elif "--coupons" in argv:
        from shop.coupons.consumer import run_forever

        run_forever(app)
    elif "--admissions" in argv:
        from shop.waiting.ticker import run_forever

        run_forever(app)
    else:
        run_worker(app)


if __name__ == "__main__":
    main(sys.argv[1:])
