"""The points ledger. Every write has an idempotency key, the cached balance only ever
moves by conditional UPDATEs (`balance >= x` to spend), and spends consume earn lines
oldest-expiry first (FIFO) with a record of what they took, so a release returns
exactly those points."""
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from ..errors import DomainError
from ..extensions import db
from ..timeutil import utcnow
from .models import PointAllocation, PointBalance, PointEntry


LINE_RETURN = "reverse-points:line:"  # idem_key prefix of a per-game refund's points


class NotEnoughPoints(DomainError):
    message = _l("You don't have that many points.")


def add_months(value: datetime, months: int) -> datetime:
    month = value.month - 1 + months
    year, month = value.year + month // 12, month % 12 + 1
    import calendar

    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def balance(user_id: int) -> int:
    return db.session.scalar(select(PointBalance.balance).where(PointBalance.user_id == user_id)) or 0


def ledger_balance(user_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(PointEntry.amount), 0)).where(PointEntry.user_id == user_id))


def _ensure_row(user_id: int):
    if db.session.get(PointBalance, user_id) is None:
        try:
            with db.session.begin_nested():
                db.session.add(PointBalance(user_id=user_id, balance=0))
        except IntegrityError:
            pass  # created concurrently


def _entry(**values) -> PointEntry | None:
    """Insert a ledger line unless its idempotency key exists; None if it did."""
    try:
        with db.session.begin_nested():
            entry = PointEntry(**values)
            db.session.add(entry)
        return entry
    except IntegrityError:
        return None


def earn(user_id: int, amount: int, kind: str, idem_key: str, order_id: int | None = None,
         note: str | None = None) -> PointEntry | None:
    """Credit points valid for POINTS_VALID_MONTHS. Idempotent by `idem_key`."""
    if amount <= 0:
        return None
    _ensure_row(user_id)
    now = utcnow()
    entry = _entry(user_id=user_id, kind=kind, amount=amount, remaining=amount, order_id=order_id,
                   expires_at=add_months(now, current_app.config["POINTS_VALID_MONTHS"]), idem_key=idem_key,
                   note=note, created_at=now)
    if entry is not None:
        db.session.execute(update(PointBalance).where(PointBalance.user_id == user_id)
                           .values(balance=PointBalance.balance + amount))
    return entry


def spend(user_id: int, amount: int, order_id: int) -> PointEntry:
    """Hold points for an order. Raises NotEnoughPoints; never lets the balance go negative,
    however many checkouts run at once (the UPDATE is conditional on the balance)."""
    if amount <= 0:
        raise NotEnoughPoints(_("Use a positive number of points."))
    _ensure_row(user_id)
    expire_points(user_id=user_id, commit=False)  # so the balance only counts points still valid
    taken = db.session.execute(update(PointBalance).where(
        PointBalance.user_id == user_id, PointBalance.balance >= amount)
        .values(balance=PointBalance.balance - amount)).rowcount
    if taken != 1:
        raise NotEnoughPoints()
    entry = _entry(user_id=user_id, kind="spend", amount=-amount, order_id=order_id,
                   idem_key=f"spend:order:{order_id}", note="Used at checkout")
    if entry is None:
        raise NotEnoughPoints(_("Points were already used for this order."))
    db.session.flush()
    _allocate(user_id, entry.id, amount)
    return entry


def _allocate(user_id: int, spend_id: int, amount: int):
    """Consume earn lines, soonest expiry first, with conditional updates."""
    left = amount
    while left > 0:
        rows = db.session.execute(select(PointEntry.id, PointEntry.remaining).where(
            PointEntry.user_id == user_id, PointEntry.remaining > 0, PointEntry.expires_at > utcnow())
            .order_by(PointEntry.expires_at, PointEntry.id).limit(20)).all()
        if not rows:
            break  # the balance said yes; ledger lines already expired are reconciled by the expiry job
        for earn_id, remaining in rows:
            take = min(remaining, left)
            done = db.session.execute(update(PointEntry).where(
                PointEntry.id == earn_id, PointEntry.remaining >= take)
                .values(remaining=PointEntry.remaining - take)).rowcount
            if done:
                db.session.add(PointAllocation(spend_id=spend_id, earn_id=earn_id, amount=take))
                left -= take
            if left == 0:
                break


def give_back(order_id: int, kind: str, note: str) -> int:
    """Return the points an order held (release) or spent (refund), less what per-game
    refunds already returned (loyalty/refunds.py). Idempotent."""
    spent = db.session.scalar(select(PointEntry).where(PointEntry.order_id == order_id, PointEntry.kind == "spend"))
    if spent is None:
        return 0
    already = db.session.scalar(select(func.coalesce(func.sum(PointEntry.amount), 0)).where(
        PointEntry.order_id == order_id, PointEntry.kind == "reverse", PointEntry.idem_key.like(f"{LINE_RETURN}%")))
    back = -spent.amount - already
    if back <= 0:
        return 0
    entry = _entry(user_id=spent.user_id, kind=kind, amount=back, order_id=order_id,
                   idem_key=f"{kind}-points:order:{order_id}", note=note)
    if entry is None:
        return 0
    for alloc in db.session.scalars(select(PointAllocation).where(PointAllocation.spend_id == spent.id)):
        # Back onto the lines they came from, with their original expiry.
        db.session.execute(update(PointEntry).where(PointEntry.id == alloc.earn_id)
                           .values(remaining=PointEntry.remaining + alloc.amount - alloc.returned))
        alloc.returned = alloc.amount
    db.session.execute(update(PointBalance).where(PointBalance.user_id == spent.user_id)
                       .values(balance=PointBalance.balance + back))
    return back


def reverse_earned(order_id: int) -> int:
    """On refund: take back cashback earned on the order (what is left of it)."""
    earned = db.session.scalar(select(PointEntry).where(PointEntry.order_id == order_id,
                                                        PointEntry.kind == "earn_cashback"))
    if earned is None or earned.remaining <= 0:
        return 0
    amount = earned.remaining
    entry = _entry(user_id=earned.user_id, kind="reverse", amount=-amount, order_id=order_id,
                   idem_key=f"reverse-cashback:order:{order_id}", note="Cashback reversed (refund)")
    if entry is None:
        return 0  # already reversed
    done = db.session.execute(update(PointEntry).where(PointEntry.id == earned.id, PointEntry.remaining == amount)
                              .values(remaining=0)).rowcount
    if not done:
        raise RuntimeError("cashback line changed during reversal; retry")
    db.session.execute(update(PointBalance).where(PointBalance.user_id == earned.user_id)
                       .values(balance=PointBalance.balance - amount))
    return amount


def expire_points(now: datetime | None = None, user_id: int | None = None, commit: bool = True) -> int:
    """Daily: expire what is left of earn lines past their date (FIFO by construction)."""
    now = now or utcnow()
    total = 0
    q = select(PointEntry.id, PointEntry.user_id, PointEntry.remaining).where(
        PointEntry.remaining > 0, PointEntry.expires_at <= now)
    if user_id is not None:
        q = q.where(PointEntry.user_id == user_id)
    rows = db.session.execute(q.order_by(PointEntry.id)).all()
    for earn_id, user_id, remaining in rows:
        done = db.session.execute(update(PointEntry).where(PointEntry.id == earn_id, PointEntry.remaining == remaining)
                                  .values(remaining=0)).rowcount
        if not done:
            continue
        if _entry(user_id=user_id, kind="expire", amount=-remaining, idem_key=f"expire:{earn_id}",
                  note="Expired after 12 months") is not None:
            db.session.execute(update(PointBalance).where(PointBalance.user_id == user_id)
                               .values(balance=PointBalance.balance - remaining))
            total += remaining
        if commit:
            db.session.commit()
    return total


def rebuild_balances() -> int:
    """Recompute every cached balance from the ledger (the ledger is the truth)."""
    db.session.execute(text(
        "INSERT INTO point_balances (user_id, balance) SELECT DISTINCT user_id, 0 FROM point_entries "
        "WHERE user_id NOT IN (SELECT user_id FROM point_balances)"))
    changed = db.session.execute(text(
        "UPDATE point_balances SET balance = COALESCE((SELECT SUM(amount) FROM point_entries pe "
        "WHERE pe.user_id = point_balances.user_id), 0)")).rowcount
    db.session.commit()
    return changed


def history(user_id: int, limit: int = 50) -> list[PointEntry]:
    return list(db.session.scalars(select(PointEntry).where(PointEntry.user_id == user_id)
                                   .order_by(PointEntry.id.desc()).limit(limit)))
