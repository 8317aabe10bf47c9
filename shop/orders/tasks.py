"""Order jobs: after payment (rankings) and the payment cron entries."""
import logging

from ..extensions import db
from .models import Order

log = logging.getLogger(__name__)


def after_order_paid(order_id: int):
    """After the PAID commit: the top-sellers ranking (derived data; the receipt's email
    row was written with the payment, see finalize_paid)."""
    order = db.session.get(Order, order_id)
    if order is None or order.status not in ("PAID", "REFUNDED"):
        return
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
