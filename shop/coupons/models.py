"""Coupon events (first-come drops) and the coupons users claimed from them."""
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow
from ..web.i18n import won


class CouponEvent(db.Model):
    __tablename__ = "coupon_events"
    __table_args__ = (
        CheckConstraint("discount_type IN ('fixed', 'percent')", name="discount_type"),
        CheckConstraint("quantity >= 0 AND discount_value > 0 AND min_order_amount >= 0", name="amounts"),
        CheckConstraint("discount_type = 'fixed' OR (discount_value <= 100)", name="percent_range"),
        CheckConstraint("closes_at > opens_at", name="window"),
        CheckConstraint("valid_days IS NOT NULL OR valid_until IS NOT NULL", name="validity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    discount_type: Mapped[str] = mapped_column(String(8))          # fixed | percent
    discount_value: Mapped[int] = mapped_column(Integer)           # KRW, or percent 1–100
    discount_cap: Mapped[int | None] = mapped_column(Integer)      # KRW cap for percent
    min_order_amount: Mapped[int] = mapped_column(Integer, default=0)
    quantity: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_days: Mapped[int | None] = mapped_column(Integer)        # validity after claim, or
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a fixed end
    scope_tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id"))
    scope_publisher_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    scope_tag = relationship("Tag", lazy="joined")
    scope_publisher = relationship("User", lazy="joined")

    def window_state(self, now: datetime | None = None) -> str:
        now = now or utcnow()
        if now < self.opens_at:
            return "upcoming"
        if now >= self.closes_at:
            return "closed"
        return "open"

    def expiry_for(self, claimed_at: datetime) -> datetime:
        ends = []
        if self.valid_days is not None:
            ends.append(claimed_at + timedelta(days=self.valid_days))
        if self.valid_until is not None:
            ends.append(self.valid_until)
        return min(ends)

    @property
    def discount_label(self) -> str:
        """'₩3,000 off' / '3,000원 할인', '15% off (up to ₩10,000)', in the reader's language."""
        if self.discount_type == "fixed":
            return _("%(amount)s off", amount=won(self.discount_value))
        if self.discount_cap:
            return _("%(percent)s%% off (up to %(cap)s)", percent=self.discount_value, cap=won(self.discount_cap))
        return _("%(percent)s%% off", percent=self.discount_value)


class Coupon(db.Model):
    """One claimed coupon. Status moves only by conditional UPDATEs:
    available → reserved (order created) → used (order paid); reserved → available
    (order failed/expired); used → available (refund within validity); → expired."""
    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        CheckConstraint("status IN ('available', 'reserved', 'used', 'expired')", name="status"),
        Index("ix_coupons_user_status", "user_id", "status"),
        Index("ix_coupons_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("coupon_events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="available")
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stream_id: Mapped[str | None] = mapped_column(String(40))   # the Redis stream entry it came from

    event = relationship(CouponEvent, lazy="joined")
