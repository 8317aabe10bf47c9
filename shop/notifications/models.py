"""Notifications: one row per event a user should hear about: its kind and parameters
(messages.py writes the text when it is read)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..infra import memberview
from ..timeutil import UTCDateTime, utcnow
from .messages import text_of


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # one of messages.KINDS
    params: Mapped[dict | None] = mapped_column(JSON)  # what its text is written from, when read
    message: Mapped[str | None] = mapped_column(String(300))  # rows from before params: their English text
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def text(self) -> str:
        """What it says, in the language in force."""
        return text_of(self)


memberview.watch(Notification.__table__, "user_id")  # a member's cached header and marks (overlay)
