"""Checkout, the gateway redirects, orders, receipts and refunds."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..accounts.decorators import verified_required
from ..web.forms import EmptyForm
from ..cart.services import cart_games
from ..web.i18n import won
from ..web.numbers import MAX_ID, parse_int
from ..errors import DomainError
from ..extensions import db
from ..library import keys
from . import line_refunds, proration, refund_rules, refunds, services
from .messages import failure_text
from .models import Order
from . import hooks
from ..cart.pricing import quote_games

bp = Blueprint("orders", __name__)
bp.add_app_template_filter(failure_text, "failure_text")


def _own_order(public_id: str, buyer_only: bool = False) -> Order:
    """The order if the current user may see it (the buyer, or an admin unless
    `buyer_only`), else 404."""
    try:
        order = services.get_order(public_id)
    except services.OrderNotFound:
        abort(404)
    if order.user_id != current_user.id and (buyer_only or not current_user.is_admin):
        abort(404)  # don't reveal that someone else's order exists
    return order


def _checkout_options() -> dict:
    """What the buyer chose on the checkout page for the plug-ins (coupon, points)."""
    return hooks.options_from(request.form)


@bp.route("/checkout")
@verified_required
def checkout():
    games = cart_games(current_user)
    if not games:
        flash(_("Your cart is empty."), "info")
        return redirect(url_for("cart.cart_page"))
    options = hooks.options_from(request.args)
    option_error = None
    try:
        quote = quote_games(games, current_user, options)
    except DomainError as exc:  # e.g. a coupon that can't apply to this cart
        option_error, options = exc.message, {}
        quote = quote_games(games, current_user)
    return render_template("orders/checkout.html", quote=quote, games=games, options=options,
                           option_error=option_error, panels=hooks.panels(current_user, options),
                           form=EmptyForm(), gateway=current_app.config["PAYMENT_GATEWAY"],
                           refund_policy=refund_rules.policy())


@bp.route("/checkout", methods=["POST"])
@verified_required
def start_checkout():
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        order = services.start_checkout(current_user, _checkout_options())
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("cart.cart_page"))
    return pay(order)


def pay(order: Order):
    """The response that takes the buyer to pay a new order (the gift page uses it too)."""
    if order.status == "PAID":  # discounts covered everything: no payment window
        flash(_("Order complete — enjoy your games!"), "success")
        return redirect(url_for("orders.order_page", public_id=order.public_id))
    success = url_for("orders.payment_success", _external=True)
    fail = url_for("orders.payment_fail", _external=True)
    if order.gateway == "sandbox":
        return redirect(url_for("orders.sandbox_page", public_id=order.public_id))
    return render_template("orders/toss_pay.html", order=order, success_url=success, fail_url=fail,
                           client_key=current_app.config.get("TOSS_CLIENT_KEY"))


@bp.route("/checkout/success")
@login_required
def payment_success():
    public_id = request.args.get("orderId", "")
    payment_key = request.args.get("paymentKey", "")
    amount = parse_int(request.args.get("amount"), 0, MAX_ID)  # totals live in an INTEGER column
    if amount is None or not payment_key:
        abort(400)
    order = _own_order(public_id, buyer_only=True)
    try:
        services.confirm_payment(order, payment_key, amount)
    except services.PaymentPending as exc:
        return render_template("orders/pending.html", order=order, message=exc.message), 202
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("orders.order_page", public_id=order.public_id))
    if refunds.is_gift(order):
        flash(_("Payment complete — your gift is on its way."), "success")
    else:
        flash(_("Payment complete — enjoy your games!"), "success")
    return redirect(url_for("orders.order_page", public_id=order.public_id))


@bp.route("/checkout/fail")
@login_required
def payment_fail():
    order = _own_order(request.args.get("orderId", ""), buyer_only=True)
    code = request.args.get("code", "UNKNOWN")[:80]
    message = request.args.get("message", "")[:300]
    services.fail_payment(order, code, message)
    if order.status not in ("FAILED", "CANCELLED"):  # a stale fail URL of an order that went on
        return redirect(url_for("orders.order_page", public_id=order.public_id))
    if code == "PAY_PROCESS_CANCELED":
        flash(_("Payment cancelled. Your cart is still here."), "info")
    else:
        flash(_("The payment did not go through: %(reason)s. Nothing was charged.",
                reason=(message or code).rstrip(".")), "error")
    return redirect(url_for("cart.cart_page"))


@bp.route("/sandbox/pay/<public_id>", methods=["GET", "POST"])
@login_required
def sandbox_page(public_id):
    """The sandbox gateway's payment window (development and tests)."""
    if current_app.config["PAYMENT_GATEWAY"] != "sandbox":
        abort(404)
    order = _own_order(public_id, buyer_only=True)
    if order.gateway != "sandbox":
        abort(404)
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        action = request.form.get("action")
        if order.status != "PENDING":
            flash(_("This payment window has expired."), "error")
            return redirect(url_for("orders.order_page", public_id=order.public_id))
        if action == "approve":
            from .gateways import SandboxGateway

            key = SandboxGateway().authorize(order.public_id, order.total)
            return redirect(url_for("orders.payment_success", paymentKey=key, orderId=order.public_id,
                                    amount=order.total))
        if action == "decline":
            return redirect(url_for("orders.payment_fail", code="REJECT_CARD_PAYMENT",
                                    message=_("The card was declined (sandbox)."), orderId=order.public_id))
        return redirect(url_for("orders.payment_fail", code="PAY_PROCESS_CANCELED",
                                message=_("The payment window was closed."), orderId=order.public_id))
    return render_template("orders/sandbox_pay.html", order=order, form=form)


@bp.route("/orders")
@login_required
def orders_page():
    orders = db.session.scalars(select(Order).where(Order.user_id == current_user.id)
                                .order_by(Order.created_at.desc()).limit(100)).all()
    return render_template("orders/orders.html", orders=orders)


@bp.route("/orders/<public_id>")
@login_required
def order_page(public_id):
    order = _own_order(public_id)
    # Keys only for the buyer: admins read receipts, not keys.
    product_keys = keys.keys_for_order(order.id, current_user.id) if order.user_id == current_user.id else {}
    buyer = order.user_id == current_user.id
    # Per game: its share of the order (what a refund gives back) and, for the buyer, why
    # it can't be refunded (None: the "Refund this game" button).
    refusals = {line.id: line_refunds.refusal(order, line) for line in order.lines} if buyer else {}
    return render_template("orders/order.html", order=order, form=EmptyForm(), product_keys=product_keys,
                           can_refund=buyer and refunds.refundable(order) and not any(
                               refusals[line.id] for line in order.lines if not line.refunded),
                           shares=proration.shares(order),
                           refusals=refusals, several=len(order.lines) > 1,
                           policy=refund_rules.policy() if order.status in ("PAID", "REFUNDED") else [],
                           is_gift=refunds.is_gift(order), dlc_blocking=refunds.dlc_blocking_refund(order))


@bp.route("/orders/<public_id>/refund", methods=["POST"])
@login_required
def refund(public_id):
    order = _own_order(public_id)
    if order.user_id != current_user.id:
        abort(403)  # admins see receipts; only the buyer asks for their money back
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        refunds.request_refund(order)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Refunded. The games were removed from your library."), "success")
    return redirect(url_for("orders.order_page", public_id=order.public_id))


@bp.route("/orders/<public_id>/lines/<int:line_id>/refund", methods=["POST"])
@login_required
def refund_line(public_id, line_id):
    """Refund one game of the order (the buyer only; docs/refunds.md)."""
    order = _own_order(public_id)
    if order.user_id != current_user.id:
        abort(403)  # admins see receipts; only the buyer asks for their money back
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        line = line_refunds.refund_line(order, line_id)
    except line_refunds.LineNotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        if line.refunded:
            flash(_("Refunded %(title)s: %(amount)s goes back to the way you paid. It was removed from your "
                    "library.", title=line.title, amount=won(line.refund_amount or 0)), "success")
        else:  # the whole order was refunded meanwhile, in another tab
            flash(_("This order changed meanwhile; nothing was refunded. Check the order below."), "info")
    return redirect(url_for("orders.order_page", public_id=order.public_id))
