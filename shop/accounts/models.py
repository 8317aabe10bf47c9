"""Accounts: the people who use the store."""
import secrets
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..infra import memberview
from ..timeutil import UTCDateTime, utcnow

ROLES = ("customer", "publisher", "admin")
STATUSES = ("active", "withdrawn", "purged")


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'publisher', 'admin')", name="role"),
        CheckConstraint("status IN ('active', 'withdrawn', 'purged')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    nickname: Mapped[str] = mapped_column(String(30))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="customer", index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    avatar_key: Mapped[str | None] = mapped_column(String(255))
    # Part of the login cookie: rotating it logs out every session of the user
    # (password change or reset, "Sign out of all devices", withdrawal).
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by an admin: the account cannot log in and every session of it ends.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "ko" or "en" (shop/web/i18n.py); None until the user picks one: the pages follow
    # their browser, emails and notifications are Korean.
    locale: Mapped[str | None] = mapped_column(String(5))
    # A birth date confirmed by an identity provider (accounts/age.py), stored only with
    # the user's consent, whose moment is kept with it.
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_date_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    birth_date_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    identity_provider: Mapped[str | None] = mapped_column(String(20))

    # Not a column: the login (accounts/sessions.py record) this request's user came
    # through, set by log-in and by the user loader.
    login_session_id = None

    def get_id(self) -> str:
        """The login cookie's id, "<id>:<session token>:<session id>". Without a login
        session (accounts.login.log_in gives one) it is "<id>:<token>", which logs nobody in."""
        if self.login_session_id:
            return f"{self.id}:{self.session_token}:{self.login_session_id}"
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.status == "active" and self.suspended_at is None

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_publisher(self) -> bool:
        return self.role in ("publisher", "admin")

    def rotate_session_token(self):
        self.session_token = new_session_token()

    def __repr__(self):
        return f"<User {self.id} {self.email} {self.role}>"


memberview.watch(User.__table__, "id")  # a member's cached header and marks (overlay)
