"""Extension points for what an order holds (coupons, points).

The coupon and loyalty domains append callables here; each runs inside the order's
transaction. `reserved` when an order is created, `paid` when it is paid, `released`
when it ends unpaid (failed, cancelled, expired), `refunded` on refund."""
ON_RESERVED: list = []
ON_PAID: list = []
ON_RELEASED: list = []
ON_REFUNDED: list = []


def reserved(order, quote):
    for fn in ON_RESERVED:
        fn(order, quote)


def paid(order):
    for fn in ON_PAID:
        fn(order)


def released(order_id: int):
    for fn in ON_RELEASED:
        fn(order_id)


def refunded(order):
    for fn in ON_REFUNDED:
        fn(order)
