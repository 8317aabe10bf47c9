"""Orders, their lines and payment records.

Order states:
  PENDING ─confirm claimed─▶ CONFIRMING ─gateway ok─▶ PAID ─refund─▶ REFUNDED
     │                          │  └─gateway said no─▶ FAILED
     │                          └─timeout / 5xx─▶ AWAITING_CONFIRMATION ─reconciler─▶ PAID | FAILED
     └─expired / replaced / payment window closed─▶ CANCELLED (or FAILED)
Every transition is a compare-and-set UPDATE on the status, so two requests can
never both move an order forward.
"""
import uuid
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow

STATUSES = ("PENDING", "CONFIRMING", "AWAITING_CONFIRMATION", "PAID", "FAILED", "CANCELLED", "REFUNDED")


def new_public_id() -> str:
    return str(uuid.uuid4())


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total >= 0 AND subtotal >= 0", name="amounts_nonnegative"),
        CheckConstraint("status IN ('PENDING', 'CONFIRMING', 'AWAITING_CONFIRMATION', 'PAID', 'FAILED', "
                        "'CANCELLED', 'REFUNDED')", name="status"),
        Index("ix_orders_user_created", "user_id", "created_at"),
        Index("ix_orders_status_updated", "status", "updated_at"),
        Index("ix_orders_status_paid", "status", "paid_at"),  # revenue per day (admin dashboard)
        Index("ix_orders_status_expires", "status", "expires_at"),  # the expiry sweep
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), default="PENDING")
    subtotal: Mapped[int] = mapped_column(Integer)   # sum of line prices, KRW
    discount: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer)      # what the gateway must charge
    discounts: Mapped[list | None] = mapped_column(JSON)  # [{kind, label, amount, ref}]
    gateway: Mapped[str] = mapped_column(String(16))
    payment_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    failure_code: Mapped[str | None] = mapped_column(String(80))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lines = relationship("OrderLine", lazy="selectin", order_by="OrderLine.id", cascade="all, delete-orphan")
    user = relationship("User", lazy="joined")

    @property
    def order_name(self) -> str:
        """The first game's title, '… and 2 more' after it (in the reader's language)."""
        if not self.lines:
            return _("Playcation order")
        first = self.lines[0].title
        if len(self.lines) == 1:
            return first
        return ngettext("%(title)s and %(num)d more", "%(title)s and %(num)d more", len(self.lines) - 1, title=first)


class OrderLine(db.Model):
    """One game of an order. ACTIVE until it is refunded, on its own (a per-game refund,
    shop/orders/line_refunds.py) or with the rest of the order; `refund_amount` is what
    went back to the way the buyer paid (docs/refunds.md)."""
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "game_id"),
                      CheckConstraint("status IN ('ACTIVE', 'REFUNDED')", name="status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))      # snapshot at order time
    list_price: Mapped[int] = mapped_column(Integer)     # regular price at order time
    price: Mapped[int] = mapped_column(Integer)          # charged (sale resolved)
    status: Mapped[str] = mapped_column(String(12), default="ACTIVE", server_default="ACTIVE")
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund_amount: Mapped[int | None] = mapped_column(Integer)  # KRW back to the card
    # A line with a recipient is a gift: paying creates the claimable gift (shop/gifts),
    # not a grant to the buyer.
    gift_to: Mapped[str | None] = mapped_column(String(254))
    gift_message: Mapped[str | None] = mapped_column(String(500))

    @property
    def refunded(self) -> bool:
        return self.status == "REFUNDED"


class PaymentEvent(db.Model):
    """Every call made to a gateway and what it answered: the audit trail."""
    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))       # confirm | cancel | status
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(24))    # ok | declined | error | timeout
    code: Mapped[str | None] = mapped_column(String(80))
    message: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxPayment(db.Model):
    """State of the local sandbox gateway (it plays Toss's part in development)."""
    __tablename__ = "sandbox_payments"

    payment_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    order_public_id: Mapped[str] = mapped_column(String(36), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="READY")  # READY | DONE | PARTIAL_CANCELED | CANCELED
    confirm_key: Mapped[str | None] = mapped_column(String(80))
    cancelled_amount: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def balance(self) -> int:
        return self.amount - self.cancelled_amount


class SandboxCancel(db.Model):
    """One cancel the sandbox gateway made, by its idempotency key (a replay moves no money)."""
    __tablename__ = "sandbox_cancels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_key: Mapped[str] = mapped_column(String(200), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
