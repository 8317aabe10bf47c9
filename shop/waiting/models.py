"""A waiting room: what it guards and how it admits. Its queue lives in Redis (state.py)."""
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow

TARGETS = ("coupon", "game", "paths")
MODES = ("rate", "cap")            # admissions per minute, or active visitors kept inside
ORDERS = ("fifo", "random")
ON_REDIS_DOWN = ("open", "closed")  # let everyone in, or hold everyone at the door


class WaitingRoom(db.Model):
    __tablename__ = "waiting_rooms"
    __table_args__ = (
        CheckConstraint("target_kind IN ('coupon', 'game', 'paths')", name="target_kind"),
        CheckConstraint("mode IN ('rate', 'cap')", name="mode"),
        CheckConstraint("queue_order IN ('fifo', 'random')", name="queue_order"),
        CheckConstraint("on_redis_down IN ('open', 'closed')", name="on_redis_down"),
        CheckConstraint("rate_per_minute > 0 AND active_cap > 0 AND session_minutes > 0", name="limits"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    target_kind: Mapped[str] = mapped_column(String(8))
    # coupon: the event id; game: the game's slug; paths: prefixes, one a line
    target: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(8), default="rate")
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=600)
    active_cap: Mapped[int] = mapped_column(Integer, default=500)
    session_minutes: Mapped[int] = mapped_column(Integer, default=10)
    queue_order: Mapped[str] = mapped_column(String(8), default="fifo")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    on_redis_down: Mapped[str] = mapped_column(String(8), default="closed")
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def prefixes(self) -> tuple[str, ...]:
        """The paths this room guards (exact paths end without a slash; see rooms.guards)."""
        if self.target_kind == "coupon":
            return (f"/coupons/{self.target}", f"/coupons/{self.target}/claim")
        if self.target_kind == "game":
            return (f"/games/{self.target}",)
        return tuple(p.strip() for p in self.target.splitlines() if p.strip())

    @property
    def coupon_event_id(self) -> int | None:
        return int(self.target) if self.target_kind == "coupon" and self.target.isdigit() else None
