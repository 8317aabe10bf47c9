"""Reviews by owners, likes, and the publisher's public reply."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..infra import memberview
from ..timeutil import UTCDateTime, utcnow


class Review(db.Model):
    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("game_id", "user_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_reviews_game_likes", "game_id", "likes_count"),
        Index("ix_reviews_game_created", "game_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)            # plain text; rendered escaped
    likes_count: Mapped[int] = mapped_column(Integer, default=0)
    reply_body: Mapped[str | None] = mapped_column(Text)
    reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author = relationship("User", lazy="joined")
    game = relationship("Game", lazy="joined")


class ReviewLike(db.Model):
    __tablename__ = "review_likes"
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


memberview.watch(Review.__table__)  # a member's cached parts of a page (overlay)


memberview.watch(ReviewLike.__table__)  # a member's cached parts of a page (overlay)
