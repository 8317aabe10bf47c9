"""RQ plumbing: queues, after-commit enqueueing, the worker and the cron schedule.

Jobs take ids, never ORM objects, and run inside an app context that the worker
opens per job, so every job gets a fresh database session.
"""
import logging
import time

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db
from .redisconn import redis_clients

log = logging.getLogger(__name__)
_PENDING = "playcation_after_commit"


def get_queue(name: str | None = None) -> Queue:
    return Queue(name or current_app.config["RQ_QUEUE"], connection=redis_clients.raw)


def enqueue(func, *args, job_id=None, retry: Retry | None = None, **kwargs):
    return get_queue().enqueue(func, *args, job_id=job_id, retry=retry, **kwargs)


def enqueue_after_commit(func, *args, job_id=None, retry=None, **kwargs):
    """Enqueue `func` once the current transaction commits; drop it on rollback.

    A rolled-back order must never send its receipt, and a job must never run
    before the rows it reads are visible. Savepoints (`begin_nested`) count as part
    of the enclosing transaction: releasing one enqueues nothing, and rolling one
    back drops only the jobs added inside it.
    """
    def run():
        try:
            enqueue(func, *args, job_id=job_id, retry=retry, **kwargs)
        except RedisError:
            # The rows are committed; sweepers (e.g. requeue_stale_emails) pick the work
            # up again once Redis is back, so nothing is lost.
            log.exception("could not enqueue %s%r after commit", getattr(func, "__name__", func), args)

    call_after_commit(run)


def call_after_commit(fn):
    """Call `fn()` once the current transaction commits (e.g. a Redis publish); never on
    rollback. Same savepoint rules as enqueue_after_commit. `fn` must not raise."""
    session = db.session()
    # The innermost transaction the callback belongs to (begun now if none is open yet).
    owner = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_PENDING, []).append((owner, fn))


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session):
    pending = session.info.get(_PENDING)
    if not pending:
        return
    savepoint = session.get_nested_transaction()
    if savepoint is not None:
        # A SAVEPOINT was released, not a commit: its jobs now wait for the enclosing
        # transaction (SQLAlchemy fires after_commit for both).
        session.info[_PENDING] = [(savepoint.parent if owner is savepoint else owner, job)
                                  for owner, job in pending]
        return
    session.info.pop(_PENDING, None)
    for _owner, fn in pending:
        try:
            fn()
        except Exception:  # a side effect must never turn a committed request into an error
            log.exception("after-commit callback %r failed", fn)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session, transaction):
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if transaction.nested:
        # A released savepoint handed its jobs to its parent in _enqueue_pending, so
        # whatever still belongs to it was rolled back.
        session.info[_PENDING] = [(owner, job) for owner, job in pending if owner is not transaction]
    elif transaction.parent is None:
        # The outermost transaction ended without a commit (a commit pops the list first).
        session.info.pop(_PENDING, None)


class AppWorker(SimpleWorker):
    """Runs each job in its own app context (and therefore its own DB session).

    SimpleWorker, not the forking Worker: no fork per job means pooled database
    and Redis connections are reused safely and jobs start in microseconds.
    """

    def __init__(self, *args, app=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app

    def perform_job(self, job, queue):
        with self.app.app_context():
            return super().perform_job(job, queue)


def make_worker(app, burst=False) -> AppWorker:
    with app.app_context():
        connection = redis_clients.raw
        queues = [Queue(app.config["RQ_QUEUE"], connection=connection)]
    # Maintenance (re-queueing jobs a SIGKILLed worker left in its StartedJobRegistry)
    # every minute instead of RQ's 10: an abandoned email comes back in ~3–4 minutes, not ~15.
    return AppWorker(queues, connection=connection, app=app, maintenance_interval=60)


def run_worker(app, wait=None):
    """The RQ worker until it is asked to stop (SIGTERM/SIGINT).

    RQ ends its loop on an unexpected error, such as a Redis timeout or a connection
    dropped mid-heartbeat during an outage. The process would then exit and every job
    would wait for a supervisor to restart it; instead this waits for Redis and starts a
    new worker, so jobs resume when Redis does."""
    wait = wait or wait_for_redis
    while True:
        worker = make_worker(app)
        try:
            worker.work(with_scheduler=True)  # the scheduler runs RQ's own Retry delays
        except RedisError as exc:
            # RQ's teardown (register_death) talks to Redis too, and raises when it is down.
            log.warning("RQ worker %s lost Redis (%s)", worker.name, exc.__class__.__name__)
        if worker._shutdown_requested_date is not None:
            return
        log.warning("RQ worker %s stopped without a stop request; starting a new one when Redis answers", worker.name)
        wait(app)


def wait_for_redis(app, sleep=time.sleep, max_delay: float = 30.0):
    """Block until Redis answers. A worker started while Redis is down (a host reboot
    brings processes up in any order) waits with a clear log line instead of exiting
    with a traceback; run_worker also waits here when an outage ended its loop."""
    delay = 0.5
    with app.app_context():
        while True:
            try:
                redis_clients.raw.ping()
                return
            except RedisError as exc:
                log.warning("Redis at %s is not answering (%s); retrying in %.0f s",
                            app.config["REDIS_URL"], exc.__class__.__name__, delay)
                sleep(delay)
                delay = min(delay * 2, max_delay)


# Cron entries: (id, cron string in UTC, dotted function path)
CRON = [
    ("accounts-purge-withdrawn", "30 18 * * *", "shop.accounts.tasks.purge_withdrawn"),  # 03:30 KST
    ("accounts-remove-unverified", "50 18 * * *", "shop.accounts.tasks.remove_never_verified"),  # 03:50 KST
    ("notifications-purge-read", "40 18 * * *", "shop.notifications.tasks.delete_old_read_notifications"),  # 03:40
    ("mail-requeue-stale", "*/5 * * * *", "shop.infra.mail.requeue_stale_emails"),  # the outbox sweeper
    ("catalog-announce-sales", "*/5 * * * *", "shop.catalog.tasks.announce_started_sales"),
    # 00:15 KST: yesterday's views are final; Redis keeps each day 8 days, so a missed run is caught up
    ("catalog-persist-views", "15 15 * * *", "shop.catalog.tasks.persist_daily_views"),
    # Pre-orders unlock and buyers and wishers hear within minutes of midnight KST on release day.
    ("library-release-games", "*/5 * * * *", "shop.library.release.release_due_games"),
    ("orders-reconcile", "*/5 * * * *", "shop.orders.tasks.reconcile_payments"),
    ("orders-expire", "*/5 * * * *", "shop.orders.tasks.expire_orders"),
    ("coupons-reconcile", "* * * * *", "shop.coupons.tasks.reconcile_events"),
    ("coupons-expire", "10 15 * * *", "shop.coupons.tasks.expire_coupons"),  # 00:10 KST
    ("vip-grade", "5 15 * * *", "shop.loyalty.tasks.grade_previous_month"),  # 00:05 KST; idempotent catch-up
    ("points-expire", "20 15 * * *", "shop.loyalty.tasks.expire_points"),  # 00:20 KST
]


def register_cron(scheduler):
    """Replace our cron entries so restarts never duplicate them."""
    wanted = {job_id for job_id, _, _ in CRON}
    for job in scheduler.get_jobs():
        if job.id in wanted:
            scheduler.cancel(job)
    for job_id, cron, func in CRON:
        scheduler.cron(cron, func=func, id=job_id, queue_name=current_app.config["RQ_QUEUE"])


def make_scheduler(app, interval=30):
    """rq-scheduler that puts our cron entries back whenever Redis has lost them (a
    restart without persistence empties its schedule too): the sweepers that recover
    from a Redis outage must not be its casualties."""
    from rq_scheduler import Scheduler

    class CronScheduler(Scheduler):
        def enqueue_jobs(self):
            if any(job_id not in self for job_id, _, _ in CRON):
                log.warning("cron entries missing from Redis; registering them again")
                with app.app_context():
                    register_cron(self)
            return super().enqueue_jobs()

    with app.app_context():
        scheduler = CronScheduler(queue_name=app.config["RQ_QUEUE"], connection=redis_clients.raw,
                                  interval=interval)
        register_cron(scheduler)
    return scheduler


def run_scheduler(app, interval=None, wait=None):
    """rq-scheduler until it is stopped. Its loop raises on any Redis error (and so does
    its own clean-up); an outage waits for Redis and starts it again, cron entries and all."""
    wait = wait or wait_for_redis
    interval = interval or app.config["SCHEDULER_INTERVAL"]
    while True:
        try:
            make_scheduler(app, interval).run()
            return
        except RedisError as exc:
            log.warning("rq-scheduler lost Redis (%s); starting again when it answers", exc.__class__.__name__)
        wait(app)
