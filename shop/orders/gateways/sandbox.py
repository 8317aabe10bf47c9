"""The local sandbox gateway: Toss's contract without Toss. Its state is a table, so
confirm/cancel/status behave like a real, idempotent gateway, partial cancels included."""
from flask_babel import gettext as _
from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ..models import SandboxCancel, SandboxPayment
from .result import GatewayResult


class SandboxGateway:
    name = "sandbox"

    def authorize(self, order_public_id: str, amount: int) -> str:
        """The buyer pressed "Approve" on the sandbox page: an authorised, unconfirmed payment."""
        import secrets

        key = f"sandbox_{secrets.token_urlsafe(18)}"
        db.session.add(SandboxPayment(payment_key=key, order_public_id=order_public_id, amount=amount))
        db.session.commit()
        return key

    def confirm(self, payment_key: str, order_id: str, amount: int, idempotency_key: str) -> GatewayResult:
        payment = db.session.get(SandboxPayment, payment_key)
        if payment is None or payment.order_public_id != order_id:
            return GatewayResult("declined", code="NOT_FOUND_PAYMENT_SESSION", message=_("No such payment."))
        if payment.amount != amount:
            return GatewayResult("declined", code="INVALID_REQUEST", message=_("The amount does not match."))
        if payment.status == "DONE":
            if payment.confirm_key == idempotency_key:  # an idempotent replay
                return GatewayResult("ok", status="DONE", amount=payment.amount)
            return GatewayResult("already", code="ALREADY_PROCESSED_PAYMENT", message="Already confirmed.")
        if payment.status != "READY":
            return GatewayResult("declined", code="NOT_AVAILABLE_PAYMENT",
                                 message=_("The payment is %(status)s.", status=payment.status))
        # Compare-and-set, like the orders: a concurrent confirm cannot also take the money.
        moved = db.session.execute(update(SandboxPayment).where(
            SandboxPayment.payment_key == payment_key, SandboxPayment.status == "READY")
            .values(status="DONE", confirm_key=idempotency_key).execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if not moved:
            db.session.refresh(payment)
            if payment.confirm_key == idempotency_key:
                return GatewayResult("ok", status="DONE", amount=payment.amount)
            return GatewayResult("already", code="ALREADY_PROCESSED_PAYMENT", message="Already confirmed.")
        return GatewayResult("ok", status="DONE", amount=payment.amount)

    def cancel(self, payment_key: str, reason: str, idempotency_key: str, amount: int | None = None) -> GatewayResult:
        """Cancel all of what is left, or `amount` of it (a partial cancel, as Toss's
        `cancelAmount`). A replay of an idempotency key moves no money again."""
        payment = db.session.get(SandboxPayment, payment_key)
        if payment is None:
            return GatewayResult("declined", code="NOT_FOUND_PAYMENT", message=_("No such payment."))
        if db.session.scalar(select(SandboxCancel.id).where(SandboxCancel.idempotency_key == idempotency_key)):
            return self._answer(payment)
        if payment.status == "CANCELED":
            if amount is None:
                return self._answer(payment)
            return GatewayResult("declined", code="ALREADY_CANCELED_PAYMENT", message=_("The payment was cancelled."))
        if payment.status not in ("DONE", "PARTIAL_CANCELED"):
            return GatewayResult("declined", code="NOT_CANCELABLE_PAYMENT",
                                 message=_("The payment is %(status)s.", status=payment.status))
        take = payment.balance if amount is None else amount
        if not 0 < take <= payment.balance:
            return GatewayResult("declined", code="NOT_CANCELABLE_AMOUNT",
                                 message=_("That amount can't be cancelled."))
        try:
            db.session.add(SandboxCancel(payment_key=payment_key, idempotency_key=idempotency_key, amount=take))
            db.session.flush()  # the key first: a concurrent replay fails here, before any money moves
            # Compare-and-set on the balance, like Toss's cancelAmount <= balanceAmount.
            moved = db.session.execute(update(SandboxPayment).where(
                SandboxPayment.payment_key == payment_key, SandboxPayment.amount - SandboxPayment.cancelled_amount >= take)
                .values(cancelled_amount=SandboxPayment.cancelled_amount + take,
                        status=case((SandboxPayment.amount - SandboxPayment.cancelled_amount == take, "CANCELED"),
                                    else_="PARTIAL_CANCELED"))
                .execution_options(synchronize_session=False)).rowcount
            if not moved:
                db.session.rollback()
                return GatewayResult("declined", code="NOT_CANCELABLE_AMOUNT",
                                     message=_("That amount can't be cancelled."))
            db.session.commit()
        except IntegrityError:  # the same key, at the same moment: that one cancelled
            db.session.rollback()
        db.session.refresh(payment)
        return self._answer(payment)

    @staticmethod
    def _answer(payment) -> GatewayResult:
        return GatewayResult("ok", status=payment.status, amount=payment.amount,
                             payload={"balanceAmount": payment.balance})

    def status(self, order_id: str) -> GatewayResult:
        payment = db.session.scalar(select(SandboxPayment).where(SandboxPayment.order_public_id == order_id)
                                    .order_by(SandboxPayment.created_at.desc()))
        if payment is None:
            return GatewayResult("declined", code="NOT_FOUND_PAYMENT", message=_("No such payment."))
        return GatewayResult("ok", status=payment.status, amount=payment.amount,
                             payload={"paymentKey": payment.payment_key})
