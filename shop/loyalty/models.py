"""VIP grades (one row per user per month) and the append-only points ledger."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow

GRADES = ("BRONZE", "SILVER", "GOLD", "VIP")


class VipGrade(db.Model):
    __tablename__ = "vip_grades"
    __table_args__ = (UniqueConstraint("user_id", "month"), Index("ix_vip_grades_month_grade", "month", "grade"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))           # "2026-10": the month the spending happened
    grade: Mapped[str] = mapped_column(String(8))
    paid_total: Mapped[int] = mapped_column(Integer)
    batch: Mapped[str | None] = mapped_column(String(36), index=True)  # the run that wrote it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointEntry(db.Model):
    """One ledger line. Earn lines keep `remaining` (unspent, unexpired) for FIFO use."""
    __tablename__ = "point_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('earn_grade', 'earn_cashback', 'spend', 'release', 'expire', 'reverse')",
                        name="kind"),
        CheckConstraint("remaining >= 0", name="remaining_nonnegative"),
        Index("ix_point_entries_user_expiry", "user_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)            # signed points (1 point = ₩1)
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    idem_key: Mapped[str] = mapped_column(String(80), unique=True)  # makes every write safe to repeat
    batch: Mapped[str | None] = mapped_column(String(36), index=True)
    note: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointAllocation(db.Model):
    """Which earn lines a spend consumed (FIFO), so a release can give exactly those back."""
    __tablename__ = "point_allocations"

    spend_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id", ondelete="CASCADE"), primary_key=True)
    earn_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id", ondelete="CASCADE"), primary_key=True)
    amount: Mapped[int] = mapped_column(Integer)
    returned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # by per-game refunds


class PointBalance(db.Model):
    """Cached SUM(amount) of a user's ledger; rebuildable with points.rebuild_balances()."""
    __tablename__ = "point_balances"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_nonnegative"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
