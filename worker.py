"""RQ processes: `python worker.py` runs a worker; `python worker.py --scheduler`
runs rq-scheduler with the store's cron entries."""
import sys

from shop import create_app
from shop.jobs import run_scheduler, run_worker


def main(argv):
    app = create_app()
    if "--scheduler" in argv:
        run_scheduler(app)
    else:
        run_worker(app)


if __name__ == "__main__":
    main(sys.argv[1:])
