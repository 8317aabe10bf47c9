"""Coupon events: admin operations, the claim path, rebuild and reconciliation."""
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from ..errors import DomainError
from ..extensions import db
from ..infra.redisconn import redis_clients
from ..infra.jobs import call_after_commit
from ..timeutil import utcnow
from .models import Coupon, CouponEvent
from . import restocks
from .redis_state import CouponRedis, coupon_redis  # noqa: F401  (coupon_redis: callers use services.coupon_redis)

log = logging.getLogger(__name__)


class CouponError(DomainError):
    """A coupon event the admin can't save; `field` names the form field it is about."""

    def __init__(self, message: str | None = None, field: str = "name"):
        super().__init__(message)
        self.field = field


class RedisNotDurable(CouponError):
    """The coupon Redis could lose claims (coupons/durability.py): no drop may open on it."""

    def __init__(self, problems: list[str]):
        super().__init__(_("A drop can't open until the coupon Redis is durable: %(problems)s",
                           problems=" ".join(map(str, problems))))
        self.problems = problems


def _require_durable_redis():
    from . import durability

    found = durability.problems()
    if found:
        raise RedisNotDurable(found)


@dataclass
class EventInput:
    name: str
    discount_type: str
    discount_value: int
    quantity: int
    opens_at: datetime
    closes_at: datetime
    description: str = ""
    discount_cap: int | None = None
    min_order_amount: int = 0
    valid_days: int | None = None
    valid_until: datetime | None = None
    scope_tag_id: int | None = None
    scope_publisher_id: int | None = None


def _check(data: EventInput):
    if not data.name.strip():
        raise CouponError(_("Give the event a name."))
    if data.discount_type not in ("fixed", "percent"):
        raise CouponError(_("Choose a fixed or percent discount."), "discount_type")
    if data.discount_value <= 0 or (data.discount_type == "percent" and data.discount_value > 100):
        raise CouponError(_("Discounts are a positive amount, and percentages at most 100."), "discount_value")
    if data.discount_type == "fixed" and data.discount_value > 1_000_000:
        raise CouponError(_("A fixed discount is at most ₩1,000,000."), "discount_value")
    if data.quantity < 1 or data.quantity > 10_000_000:
        raise CouponError(_("Quantity is between 1 and 10,000,000."), "quantity")
    if data.closes_at <= data.opens_at:
        raise CouponError(_("The claim window must close after it opens."), "closes_at")
    if data.valid_days is None and data.valid_until is None:
        raise CouponError(_("Set how long claimed coupons stay valid."), "valid_days")
    if data.valid_days is not None and not 1 <= data.valid_days <= 3650:
        raise CouponError(_("Validity is 1 to 3,650 days."), "valid_days")
    if data.valid_until is not None and data.valid_until <= data.closes_at:
        # Otherwise the last claimers would get coupons that are already dead.
        raise CouponError(_("A fixed validity date must come after the claim window closes."), "valid_until")
    if data.min_order_amount < 0:
        raise CouponError(_("The minimum order amount can't be negative."), "min_order_amount")


def issued_count(event_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Coupon).where(Coupon.event_id == event_id))


def create_event(data: EventInput) -> CouponEvent:
    """Raises CouponError (RedisNotDurable if the coupon Redis could lose claims). Redis
    state is written after the row commits."""
    _check(data)
    _require_durable_redis()
    event = CouponEvent(**data.__dict__)
    db.session.add(event)
    db.session.flush()
    _missing.pop(event.id, None)  # an id probed before it existed
    _sync_after_commit(event)
    db.session.commit()
    return event


def update_event(event: CouponEvent, data: EventInput) -> CouponEvent:
    """Quantity may rise at any time but never drop below what was claimed. Raises
    CouponError; RedisNotDurable for a change that offers more (a higher quantity, a later
    close) while the coupon Redis could lose claims. Closing early is always allowed."""
    _check(data)
    if data.quantity > event.quantity or data.closes_at > event.closes_at:
        _require_durable_redis()
    claimed = max(issued_count(event.id), _redis_claimed(event.id))
    if data.quantity < claimed:
        raise CouponError(_("%(claimed)s coupons were already claimed; the quantity can't go below that.",
                            claimed=claimed), "quantity")
    for name, value in data.__dict__.items():
        setattr(event, name, value)
    _sync_after_commit(event)
    db.session.commit()
    return event


def _redis_claimed(event_id: int) -> int:
    try:
        return coupon_redis().claimed_count(event_id)
    except Exception:
        return 0


def _sync_after_commit(event: CouponEvent):
    event_id, opens, closes, quantity = event.id, event.opens_at, event.closes_at, event.quantity
    state = coupon_redis()
    app = current_app._get_current_object()

    def sync():
        with app.app_context():
            # Under the row lock, like rebuild(), in case this is what recreates lost keys.
            db.session.execute(select(CouponEvent.id).where(CouponEvent.id == event_id).with_for_update())
            known = db.session.scalars(select(Coupon.user_id).where(Coupon.event_id == event_id)).all()
            state.sync(event_id, opens, closes, quantity, known)
            db.session.rollback()
        _forget_sold_out(event_id)

    call_after_commit(sync)


# --- the claim path --------------------------------------------------------------------

_sold_out: dict[int, float] = {}
# Event ids the database doesn't know, remembered briefly so a bot cycling through ids
# can't turn every claim into a database read. Bounded: cleared when it grows too big.
_missing: dict[int, float] = {}
MISSING_CACHE_SECONDS = 5.0
MISSING_CACHE_MAX = 10_000
_rebuild_lock = threading.Lock()
REBUILD_WAIT_SECONDS = 3.0


class NoSuchEvent(DomainError):
    """A claim for an event id the database doesn't know (the view answers 404)."""

    message = _l("There is no such coupon event.")


class StateUnavailable(RedisTimeoutError):
    """The event has no Redis state and no rebuild finished in time. A Redis timeout as
    far as the site is concerned: the error pages answer 503."""


def _forget_sold_out(event_id: int):
    _sold_out.pop(event_id, None)


def _fresh(flags: dict[int, float], event_id: int) -> bool:
    """True while `flags` holds an unexpired entry for the event; drops an expired one."""
    until = flags.get(event_id)
    if until is None:
        return False
    if until > time.monotonic():
        return True
    flags.pop(event_id, None)
    return False


def sold_out_cached(event_id: int) -> bool:
    """True while this process's sold-out flag for the event (set by claim()) is fresh."""
    return _fresh(_sold_out, event_id)


def claim(event_id: int, user_id: int, ip: str = "-") -> str:
    """Try to claim one coupon; returns one of claimed | already_claimed | sold_out |
    not_open | closed | rate_limited. Never touches the database on the hot path; only
    when Redis lost the event's state (see rebuild). Raises NoSuchEvent for an event id
    the database doesn't know, StateUnavailable if the state can't be rebuilt in time."""
    if _fresh(_sold_out, event_id):
        return "sold_out"  # don't even ask Redis once it's gone
    if _fresh(_missing, event_id):
        raise NoSuchEvent()
    cfg = current_app.config
    state = coupon_redis()
    asked_at = time.monotonic()
    outcome = state.claim(event_id, user_id, ip, cfg["COUPON_USER_PER_SECOND"], cfg["COUPON_IP_PER_SECOND"])
    deadline = time.monotonic() + REBUILD_WAIT_SECONDS
    while outcome == "not_ready":
        # Redis has no state for the event: rebuild it from the database (or wait while
        # another process does) before answering, so the answer is never made up.
        if time.monotonic() > deadline:
            raise StateUnavailable(f"coupon event {event_id} has no Redis state and could not be rebuilt in time")
        result = rebuild(event_id, deadline)
        if result == "missing":
            if len(_missing) >= MISSING_CACHE_MAX:
                _missing.clear()
            _missing[event_id] = time.monotonic() + MISSING_CACHE_SECONDS
            raise NoSuchEvent()
        if result == "busy":
            time.sleep(0.02)
        asked_at = time.monotonic()
        outcome = state.claim(event_id, user_id, ip, cfg["COUPON_USER_PER_SECOND"], cfg["COUPON_IP_PER_SECOND"])
    if outcome == "sold_out" and restocks.may_cache_sold_out(event_id, asked_at, _sold_out):
        _sold_out[event_id] = time.monotonic() + cfg["COUPON_SOLD_OUT_CACHE_SECONDS"]
    return outcome


def rebuild(event_id: int, deadline: float | None = None) -> str:
    """Recreate an event's Redis state from the database (stock = N − issued), e.g. after
    Redis restarted without persistence. Returns "rebuilt", "present" (nothing to do),
    "busy" (another thread or process is rebuilding it, or the row lock was not had by
    `deadline`, a time.monotonic() value) or "missing" (no such event).

    The issued coupons are read, and Redis written, under the event's row lock, which the
    consumer also holds while it commits a batch (and checks the batch's stream survived):
    so every coupon row is either counted here or never written. (SQLite ignores FOR
    UPDATE; it serves development only.) With a deadline, neither this process's rebuild
    lock nor the row lock is waited for past it: a claim waiting for a rebuild answers
    within REBUILD_WAIT_SECONDS even while a slow transaction holds the row."""
    r = redis_clients.store
    lock_key = f"coupon:{{{event_id}}}:rebuild"
    if not _rebuild_lock.acquire(timeout=-1 if deadline is None else max(deadline - time.monotonic(), 0)):
        return "busy"
    try:
        if coupon_redis().exists(event_id):
            return "present"
        if not r.set(lock_key, "1", nx=True, ex=10):
            return "busy"
        try:
            if not _lock_event_row(event_id, deadline):
                return "busy"
            event = db.session.get(CouponEvent, event_id)
            if event is None:
                return "missing"
            known = db.session.scalars(select(Coupon.user_id).where(Coupon.event_id == event_id)).all()
            coupon_redis().sync(event_id, event.opens_at, event.closes_at, event.quantity, known)
            log.warning("rebuilt Redis state of coupon event %s from %d issued coupons", event_id, len(known))
            return "rebuilt"
        finally:
            db.session.rollback()  # ends the row lock (nothing was written)
            r.delete(lock_key)
    finally:
        _rebuild_lock.release()


def _lock_event_row(event_id: int, deadline: float | None) -> bool:
    """SELECT … FOR UPDATE on the event's row; False if it was not had by `deadline`
    (PostgreSQL's lock_timeout, for this transaction only). True for a missing row too:
    the caller finds it missing."""
    if deadline is not None and db.session.get_bind().dialect.name == "postgresql":
        wait_ms = max(int((deadline - time.monotonic()) * 1000), 1)
        db.session.execute(text(f"SET LOCAL lock_timeout = {wait_ms}"))
    try:
        db.session.execute(select(CouponEvent.id).where(CouponEvent.id == event_id).with_for_update())
    except OperationalError as exc:
        if "lock timeout" not in str(exc).lower():
            raise
        db.session.rollback()
        return False
    return True


def remaining(event: CouponEvent) -> int:
    try:
        stock = coupon_redis().stock(event.id)
    except Exception:
        stock = None
    if stock is None:
        return max(event.quantity - issued_count(event.id), 0)
    return stock


# --- reconciliation ------------------------------------------------------------------

def reconcile(event_id: int | None = None) -> list[dict]:
    """Compare Redis and the database for each event that is open or about to open, and
    repair: rebuild lost keys, add claimers the set lost, and re-sync stock."""
    from .consumer import drain_event

    now = utcnow()
    q = select(CouponEvent).where(CouponEvent.closes_at > now)
    if event_id is not None:
        q = select(CouponEvent).where(CouponEvent.id == event_id)
    report = []
    for event in db.session.scalars(q).all():
        state = coupon_redis()
        row = {"event": event.id, "rebuilt": False}
        if not state.exists(event.id):
            row["rebuilt"] = rebuild(event.id) == "rebuilt"
        drain_event(event.id, consumer="reconciler", claim_idle_ms=30_000)
        # The row lock rebuild() takes: a consumer batch is either counted here or never written.
        db.session.execute(select(CouponEvent.id).where(CouponEvent.id == event.id).with_for_update())
        db_users = set(db.session.scalars(select(Coupon.user_id).where(Coupon.event_id == event.id)))
        redis_users = state.claimed_users(event.id)
        missing = db_users - redis_users
        left = state.sync(event.id, event.opens_at, event.closes_at, event.quantity, sorted(missing))
        db.session.rollback()  # ends the lock; nothing was written here
        row.update(db_issued=len(db_users), redis_claimed=len(redis_users | db_users), stock=left,
                   repaired_claimers=len(missing))
        report.append(row)
    return report


# --- dead letters ------------------------------------------------------------------------

class DeadLetterGone(DomainError):
    """The dead letter was already retried (or the event's Redis state was lost)."""

    message = _l("That failed claim is no longer waiting: it was already retried.")


def retry_dead_letter(event_id: int, entry_id: str) -> str:
    """Put a claim the consumer gave up on back into the event's stream, to be persisted
    afresh (after whatever made it fail was fixed); returns its user field. Raises
    DeadLetterGone."""
    user_id = coupon_redis().retry_dead(event_id, entry_id)
    if user_id is None:
        raise DeadLetterGone()
    return user_id
