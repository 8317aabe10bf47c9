"""Points at checkout: a discount provider plus order hooks (hold, release, cashback,
refund). Registered once from create_app."""
from flask import current_app, render_template
from flask_babel import gettext as _

from ..web.i18n import number
from ..web.numbers import parse_int
from ..orders import hooks
from ..cart.pricing import Discount
from . import points
from .refunds import refund_line
from .grades import current_grade

MAX_POINTS = 10**15  # above any balance (a wish is capped by the balance); a bigger number is ignored


def points_discount(quote, user, options) -> Discount | None:
    """options["points"]: how many points the buyer wants to use; capped by the balance and
    by POINTS_MAX_SHARE_PERCENT of what is left to pay after other discounts."""
    wanted = parse_int(options.get("points"), 0, MAX_POINTS)
    if wanted is None or user is None:
        return None
    cap = quote.total * current_app.config["POINTS_MAX_SHARE_PERCENT"] // 100
    amount = min(wanted, points.balance(user.id), cap)
    if amount <= 0:
        return None
    return Discount("points", _("Points (%(points)s P)", points=number(amount)), amount, ref=str(amount))


def _points_used(order) -> int:
    return sum(int(d.get("amount", 0)) for d in (order.discounts or []) if d.get("kind") == "points")


def hold(order, quote):
    used = _points_used(order)
    if used:
        try:
            points.spend(order.user_id, used, order.id)
        except points.NotEnoughPoints as exc:
            from ..orders.services import CheckoutError

            raise CheckoutError(exc.message)


def cashback(order):
    rate = current_app.config["VIP_CASHBACK_PERCENT"].get(current_grade(order.user_id), 0)
    amount = order.total * rate // 100
    if amount > 0:
        points.earn(order.user_id, amount, "earn_cashback", f"cashback:order:{order.id}", order_id=order.id,
                    note=f"{rate}% cashback")


def release(order_id: int):
    points.give_back(order_id, "release", "Returned: checkout did not complete")


def refund(order):
    """The order is REFUNDED: what per-game refunds did not give back comes back."""
    points.give_back(order.id, "reverse", "Returned: order refunded")
    points.reverse_earned(order.id)


def checkout_panel(user, options: dict):
    """The points field on the checkout page."""
    return render_template("loyalty/_checkout.html", points_balance=points.balance(user.id),
                           points_share=current_app.config["POINTS_MAX_SHARE_PERCENT"], options=options)


def register():
    """Plug points into checkout (called once from create_app, after coupons: points
    apply to what is left to pay)."""
    hooks.register("points", discount=points_discount, reserved=hold, paid=cashback, released=release,
                   refunded=refund, line_refunded=refund_line, panel=checkout_panel)
