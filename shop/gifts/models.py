"""A gift: a paid order line with a recipient, waiting to be claimed.

Status moves sent -> claimed (the recipient took it into their library) or
sent -> refunding -> refunded (the giver took the money back; refunding holds the gift
while the gateway works, and goes back to sent if the gateway refuses). Each move is a
compare-and-set UPDATE, so a gift is claimed once and never both claimed and refunded.
"""
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow

STATUSES = ("sent", "claimed", "refunding", "refunded")
MAX_MESSAGE = 500


class Gift(db.Model):
    __tablename__ = "gifts"
    __table_args__ = (
        CheckConstraint("status IN ('sent', 'claimed', 'refunding', 'refunded')", name="status"),
        Index("ix_gifts_giver_created", "giver_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), unique=True)
    giver_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id"), index=True)
    recipient_email: Mapped[str] = mapped_column(String(254))
    message: Mapped[str] = mapped_column(String(MAX_MESSAGE), default="")
    status: Mapped[str] = mapped_column(String(16), default="sent")
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When someone who already owns the game tried to claim it (the giver was told once).
    owned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    game = relationship("Game", lazy="joined")
    giver = relationship("User", lazy="joined", foreign_keys=[giver_id])
    order = relationship("Order", lazy="joined")
