"""The cart lives in the database, so it survives logout and follows the user."""
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..infra import memberview
from ..timeutil import UTCDateTime, utcnow


class CartItem(db.Model):
    __tablename__ = "cart_items"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    game = relationship("Game", lazy="joined")


memberview.watch(CartItem.__table__, "user_id")  # a member's cached header and marks (overlay)
