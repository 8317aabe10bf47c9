"""The library: one row per game a user owns."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..infra import memberview
from ..timeutil import UTCDateTime, utcnow


class LibraryEntry(db.Model):
    """A game the user owns. Revoked (not deleted) on refund; a re-purchase re-grants."""
    __tablename__ = "library_entries"
    __table_args__ = (UniqueConstraint("user_id", "game_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)  # refunds revoke by order
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A pre-order: owned, but nothing to play or key to show until the release job
    # unlocks it on the release date (library/release.py).
    awaiting_release: Mapped[bool] = mapped_column(default=False, server_default=false())

    game = relationship("Game", lazy="joined")
    user = relationship("User", lazy="select")


class ProductKey(db.Model):
    """One key of a game's pool (for games sold as keys for another launcher).

    `ciphertext` is the key encrypted with Fernet (shop/library/keys.py); `key_hash` is a
    keyed HMAC of it, so duplicates are found without decrypting. Status moves
    available -> reserved (an open order holds it) -> assigned (paid) -> void (refunded),
    and reserved -> available when the order ends unpaid. A void key is never reused."""
    __tablename__ = "product_keys"
    __table_args__ = (UniqueConstraint("game_id", "key_hash"), Index("ix_product_keys_game_status", "game_id", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="available")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

from .build_models import Build, Download  # noqa: E402,F401  (registered with the models above)


memberview.watch(LibraryEntry.__table__, "user_id")  # a member's cached header and marks (overlay)
