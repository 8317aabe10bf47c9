"""Points in a per-game refund (the `line_refunded` plug-in; docs/refunds.md).

The game's share of the points spent on its order comes back, onto the earn lines
they were taken from, the longest-lived first; its share of the cashback the order
earned is taken back (as much of it as is left). Each is one ledger line with an
idempotency key per order line. The refund of the order's last game goes through
`points.give_back` / `points.reverse_earned`, which settle what is left, so the
games refunded one by one give back exactly what the whole order's refund would."""
from sqlalchemy import select, update

from ..extensions import db
from ..orders import proration
from .models import PointAllocation, PointBalance, PointEntry
from .points import LINE_RETURN, _entry


def return_points(order_id: int, line_id: int, amount: int) -> int:
    """Give back `amount` of the points the order spent, for one refunded line."""
    spent = db.session.scalar(select(PointEntry).where(PointEntry.order_id == order_id, PointEntry.kind == "spend"))
    if spent is None or amount <= 0:
        return 0
    amount = min(amount, -spent.amount)
    if _entry(user_id=spent.user_id, kind="reverse", amount=amount, order_id=order_id,
              idem_key=f"{LINE_RETURN}{line_id}", note="Returned: game refunded") is None:
        return 0  # already returned
    left = amount
    allocations = db.session.scalars(
        select(PointAllocation).join(PointEntry, PointEntry.id == PointAllocation.earn_id)
        .where(PointAllocation.spend_id == spent.id, PointAllocation.returned < PointAllocation.amount)
        .order_by(PointEntry.expires_at.desc(), PointEntry.id.desc())).all()
    for alloc in allocations:
        take = min(alloc.amount - alloc.returned, left)
        alloc.returned += take
        db.session.execute(update(PointEntry).where(PointEntry.id == alloc.earn_id)
                           .values(remaining=PointEntry.remaining + take))
        left -= take
        if not left:
            break
    db.session.execute(update(PointBalance).where(PointBalance.user_id == spent.user_id)
                       .values(balance=PointBalance.balance + amount))
    return amount


def reverse_cashback(order, line_id: int) -> int:
    """Take back the line's share of the cashback the order earned (in proportion to
    what each game cost after discounts), as much of it as is still there."""
    earned = db.session.scalar(select(PointEntry).where(PointEntry.order_id == order.id,
                                                        PointEntry.kind == "earn_cashback"))
    if earned is None or earned.remaining <= 0:
        return 0
    every = proration.shares(order)
    ids = [line.id for line in order.lines]
    parts = dict(zip(ids, proration.split(earned.amount, [every[i].cash for i in ids])))
    take = min(parts.get(line_id, 0), earned.remaining)
    if take <= 0:
        return 0
    if _entry(user_id=earned.user_id, kind="reverse", amount=-take, order_id=order.id,
              idem_key=f"reverse-cashback:line:{line_id}", note="Cashback reversed (game refunded)") is None:
        return 0
    done = db.session.execute(update(PointEntry).where(PointEntry.id == earned.id, PointEntry.remaining >= take)
                              .values(remaining=PointEntry.remaining - take)).rowcount
    if not done:
        raise RuntimeError("cashback line changed during reversal; retry")
    db.session.execute(update(PointBalance).where(PointBalance.user_id == earned.user_id)
                       .values(balance=PointBalance.balance - take))
    return take


def refund_line(order, line, share):
    """The `line_refunded` hook."""
    return_points(order.id, line.id, share.discounts.get("points", 0))
    reverse_cashback(order, line.id)
