"""Links between a Playcation account and an account at an identity provider."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, delete, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..accounts.models import User
from ..extensions import db
from ..timeutil import UTCDateTime, utcnow


class SocialAccount(db.Model):
    """One provider account (`provider`, `subject`) linked to one user; a user links at
    most one account per provider."""
    __tablename__ = "social_accounts"
    __table_args__ = (UniqueConstraint("provider", "subject"), UniqueConstraint("user_id", "provider"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))  # indexed by the unique pair
    provider: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(255))       # the provider's stable user id ("sub")
    email: Mapped[str | None] = mapped_column(String(254))  # what the provider said at link time
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    def __repr__(self):
        return f"<SocialAccount {self.provider}:{self.subject} user={self.user_id}>"


@event.listens_for(Session, "before_flush")
def _forget_links_of_purged_users(session_, flush_context, instances):
    """A purged account keeps its row but loses its personal data; its provider links
    (subject, email) are personal data too, and must not log anyone into the husk."""
    purged = [obj.id for obj in session_.dirty if isinstance(obj, User) and obj.status == "purged"
              and inspect(obj).attrs.status.history.has_changes()]
    if purged:
        session_.connection().execute(delete(SocialAccount).where(SocialAccount.user_id.in_(purged)))
