"""Scheduled coupon jobs."""


def reconcile_events():
    from .services import reconcile

    return reconcile()


def expire_coupons():
    from .wallet import expire_coupons as expire

    return expire()
