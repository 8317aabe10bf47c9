"""Admin: find orders, read one in full (lines, discounts, gateway calls, library grants,
audit), refund it.

A refund goes through orders.refunds.request_refund, the buyer's own path: gateway cancel
first (its outcome is kept in payment_events either way), then REFUNDED and the library
grants revoked in one transaction. request_refund commits around the gateway call, so the
audit row is written in its own commit right after a refund that happened."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from ..accounts.models import User
from ..web.numbers import paginate
from ..errors import DomainError
from ..extensions import db
from ..orders import proration, refunds
from ..orders.models import Order, PaymentEvent
from ..library.models import LibraryEntry
from . import audit
from .blueprint import bp
from .forms import OrderSearchForm, ReasonForm
from .models import AuditLog
from .users import PER_PAGE, as_id, like, page_arg


# --- operations -------------------------------------------------------------------------

def search_orders(q: str = "", status: str = "", page: int = 1):
    query = select(Order).join(User, User.id == Order.user_id)
    if q:
        matches = [Order.public_id.startswith(q.lower(), autoescape=True), like(User.email, q)]
        if as_id(q) is not None:
            matches.append(Order.id == as_id(q))
        query = query.where(or_(*matches))
    if status:
        query = query.where(Order.status == status)
    return paginate(query.order_by(Order.created_at.desc(), Order.id.desc()), page, PER_PAGE)


def refund(admin: User, order: Order, reason: str) -> Order:
    """Refund at the gateway and revoke the games. Raises refunds.RefundError (nothing changed)."""
    before = order.status
    order = refunds.request_refund(order, reason)
    if order.status != before:
        audit.record("order.refund", order, label=order.public_id, before={"status": before},
                     after={"status": order.status}, note=reason, actor=admin)
        db.session.commit()
    return order


def order_facts(order: Order) -> dict:
    by_order = lambda model, *order_by: db.session.scalars(  # noqa: E731
        select(model).where(model.order_id == order.id).order_by(*order_by)).all()
    return {
        "events": by_order(PaymentEvent, PaymentEvent.id),
        "grants": by_order(LibraryEntry, LibraryEntry.id),
        "audit_rows": db.session.scalars(select(AuditLog).where(
            AuditLog.target_type == "order", AuditLog.target_id == str(order.id))
            .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())).all(),
        "refundable": refunds.refundable(order),
        "shares": proration.shares(order),
        "refund_left": proration.unrefunded_cash(order),  # after per-game refunds, only the rest
        "refund_days": current_app.config["REFUND_WINDOW_DAYS"],
    }


# --- views --------------------------------------------------------------------------------

def _order_page(order: Order, status: int = 200, form: ReasonForm | None = None):
    return render_template("admin/order.html", order=order, form=form or ReasonForm(formdata=None),
                           **order_facts(order)), status


@bp.route("/orders")
def orders():
    form = OrderSearchForm(formdata=request.args)
    valid = form.validate()
    filters = {k: v for k, v in form.data.items() if v} if valid else {}
    pages = search_orders(filters.get("q", ""), filters.get("status", ""), page_arg())
    return render_template("admin/orders.html", form=form, pages=pages, filters=filters), 200 if valid else 400


@bp.route("/orders/<int:order_id>")
def order(order_id):
    return _order_page(db.get_or_404(Order, order_id))


@bp.route("/orders/<int:order_id>/refund", methods=["POST"])
def order_refund(order_id):
    order = db.get_or_404(Order, order_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _order_page(order, 400, form)
    try:
        refund(current_user, order, form.reason.data)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Refunded. The games were removed from the buyer's library."), "success")
    return redirect(url_for("admin.order", order_id=order_id))
