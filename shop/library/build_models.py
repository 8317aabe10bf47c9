"""Builds of a game and the log of their downloads."""
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow

PLATFORMS = ("windows", "macos", "linux")


class Build(db.Model):
    """One uploaded file of a game for one platform.

    Status moves uploading -> verifying (the file is complete; a job reads it back and
    checks size and SHA-256) -> ready (verified; the publisher may publish it) ->
    published; verifying -> failed when the file is not what the uploader declared.
    The current build of a platform is its latest published one; older published
    builds stay downloadable."""
    __tablename__ = "game_builds"
    __table_args__ = (Index("ix_game_builds_game_platform", "game_id", "platform", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"))
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(40))
    notes: Mapped[str] = mapped_column(Text, default="")
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)            # declared when the upload starts
    received: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes stored, written on completion
    claimed_sha256: Mapped[str | None] = mapped_column(String(64))  # what the uploader's browser computed
    sha256: Mapped[str | None] = mapped_column(String(64))   # what the server read back (set when verified)
    storage_key: Mapped[str] = mapped_column(String(300))
    upload_id: Mapped[str | None] = mapped_column(String(300))  # S3 multipart upload id
    status: Mapped[str] = mapped_column(String(16), default="uploading")
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    game = relationship("Game", lazy="joined")


class Download(db.Model):
    """One download handed out: a signed or presigned URL given to an owner."""
    __tablename__ = "downloads"
    __table_args__ = (Index("ix_downloads_user_game", "user_id", "game_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"))
    build_id: Mapped[int] = mapped_column(ForeignKey("game_builds.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
