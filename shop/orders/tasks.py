"""Order jobs: after payment (receipt, rankings) and the payment cron entries."""
import logging

from ..extensions import db
from ..mail import queue_email
from .models import Order

log = logging.getLogger(__name__)


def after_order_paid(order_id: int):
    """After the PAID commit: the HTML receipt by email and the top-sellers ranking."""
    order = db.session.get(Order, order_id)
    if order is None or order.status not in ("PAID", "REFUNDED"):
        return
    queue_email(order.user.email, "receipt", nickname=order.user.nickname, order_id=order.public_id,
                order_name=order.order_name, total=order.total, subtotal=order.subtotal,
                discount=order.discount, paid_at=order.paid_at.isoformat(),
                lines=[{"title": l.title, "price": l.price, "list_price": l.list_price} for l in order.lines])
    db.session.commit()
    try:
        from ..catalog import cache, rankings

        for line in order.lines:
            rankings.record_sale(line.game_id)
            cache.invalidate_game(line.game_id)  # "best-selling" lists and counts
    except Exception:  # rankings are derived data; never fail the job for them
        log.exception("ranking update for order %s failed", order_id)


def reconcile_payments():
    from .services import reconcile_in_flight

    return reconcile_in_flight()


def expire_orders():
    from .services import expire_pending

    return expire_pending()
