"""Checkout's plug-ins: what an order can hold besides games (coupons, points).

A plug-in registers once, from create_app, with `register(name, ...)`; orders never
import the plug-ins, the plug-ins import orders. `name` is also the checkout form's
field the plug-in reads. Its callbacks run inside the order's transaction: `reserved`
when an order is created, `paid` when it is paid, `released` when it ends unpaid
(failed, cancelled, expired), `refunded` when the order becomes REFUNDED,
`line_refunded(order, line, share)` when one game of a paid order is refunded and
others stay (`share` is its proration.LineShare: its part of each discount).
`refunded` settles whatever is left: after per-game refunds it gives back only what
they did not (docs/refunds.md), and it also follows the last game's refund. `discount(quote, user, options)`
prices it (shop/cart/pricing.py); `panel(user, options)` renders its part of the
checkout page."""
from markupsafe import Markup

from ..cart.pricing import DISCOUNT_PROVIDERS

ON_RESERVED: list = []
ON_PAID: list = []
ON_RELEASED: list = []
ON_REFUNDED: list = []
ON_LINE_REFUNDED: list = []
PANELS: list = []  # (name, panel(user, options) -> HTML)


def register(name: str, *, discount=None, reserved=None, paid=None, released=None, refunded=None,
             line_refunded=None, panel=None):
    """Plug `name` into checkout; registering the same name again changes nothing.
    Discounts apply in registration order."""
    if name in option_names():
        return
    if discount:
        DISCOUNT_PROVIDERS.append((name, discount))
    for hooks, fn in ((ON_RESERVED, reserved), (ON_PAID, paid), (ON_RELEASED, released), (ON_REFUNDED, refunded),
                     (ON_LINE_REFUNDED, line_refunded)):
        if fn:
            hooks.append(fn)
    PANELS.append((name, panel))


def option_names() -> list[str]:
    return [name for name, _ in PANELS]


def options_from(values) -> dict:
    """The plug-ins' fields from a form or query string (only those given)."""
    return {name: values[name] for name in option_names() if values.get(name)}


def panels(user, options: dict) -> list:
    """Each plug-in's part of the checkout page, in registration order."""
    return [Markup(panel(user, options)) for _, panel in PANELS if panel]


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


def line_refunded(order, line, share):
    for fn in ON_LINE_REFUNDED:
        fn(order, line, share)
