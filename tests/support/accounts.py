"""Factories: make data in the database, not fixture dumps."""
import itertools
from types import SimpleNamespace

from shop.accounts.models import User
from shop.accounts.services import hash_password
from shop.extensions import db
from shop.timeutil import utcnow

DEFAULT_PASSWORD = "a long passphrase 1"
_counter = itertools.count(1)
_hash_cache: dict[str, str] = {}


def _hash(password: str) -> str:
    # argon2 at full strength costs ~0.1 s a hash; reuse one per distinct password.
    if password not in _hash_cache:
        _hash_cache[password] = hash_password(password)
    return _hash_cache[password]


def make_user(email=None, nickname=None, role="customer", verified=True, password=DEFAULT_PASSWORD,
              status="active", withdrawn_at=None, locale="en", birth_date=None):
    """A user; English by default, as the suite's browser is (tests/conftest.py
    EnglishClient): emails and notifications are written in the user's language.
    `birth_date`: one the sandbox identity provider verified, with consent."""
    n = next(_counter)
    user = User(email=(email or f"user{n}@example.com").lower(), nickname=nickname or f"Player{n}",
                role=role, status=status, withdrawn_at=withdrawn_at, locale=locale,
                password_hash=_hash(password), email_verified_at=utcnow() if verified else None)
    if birth_date is not None:
        user.birth_date, user.identity_provider = birth_date, "sandbox"
        user.birth_date_verified_at = user.birth_date_consent_at = utcnow()
    db.session.add(user)
    db.session.commit()
    return SimpleNamespace(id=user.id, email=user.email, nickname=user.nickname, role=role, password=password)
