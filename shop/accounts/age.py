"""Who counts as an adult for 청소년이용불가 (adults-only) games, under Korean law.

The Youth Protection Act (청소년 보호법 제2조 제1호) defines a youth as someone under
19 in full years (만 19세 미만), EXCEPT whoever has reached 1 January of the year in which
they turn 19. So the rule is by calendar year: in 2026 everyone born in 2007 or earlier
is an adult, whatever their birthday, and everyone born in 2008 or later is not.
"Today" is the Korean calendar day.

Only a birth date confirmed by an identity provider (accounts/identity.py) counts, and it
is stored only with the user's consent (`birth_date_consent_at`); withdrawing consent
erases it. Other domains ask `is_adult(user)`: the cart and checkout, gift claims and
downloads (through catalog.ratings.check_buyer / library.services.playable).
"""
from datetime import date, datetime

from ..extensions import db
from ..timeutil import seoul_today, utcnow

ADULT_YEAR_AGE = 19


def adult_by_birth_date(birth_date: date, today: date) -> bool:
    """The Youth Protection Act's rule: adult from 1 January of the year one turns 19."""
    return today.year - birth_date.year >= ADULT_YEAR_AGE


def adult_from_year(today: date) -> int:
    """The latest birth year that counts as adult on `today` (for pages that explain it)."""
    return today.year - ADULT_YEAR_AGE


def is_verified(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False)
                and user.birth_date is not None and user.birth_date_verified_at is not None)


def is_adult(user, today: date | None = None) -> bool:
    """A logged-in user whose verified birth date makes them an adult on `today` (Korean
    date, default now). Anonymous visitors and unverified accounts are not."""
    return is_verified(user) and adult_by_birth_date(user.birth_date, today or seoul_today())


def record_consent(user, now: datetime | None = None):
    """The user agreed that their birth date may be stored (before verification starts)."""
    user.birth_date_consent_at = now or utcnow()
    db.session.commit()


def record_verified(user, birth_date: date, provider: str, now: datetime | None = None):
    """Store a provider-confirmed birth date. The caller checked the consent."""
    user.birth_date = birth_date
    user.birth_date_verified_at = now or utcnow()
    user.identity_provider = provider[:20]
    db.session.commit()


def forget(user):
    """Consent withdrawn: the birth date and everything about its verification go."""
    user.birth_date = user.birth_date_verified_at = user.birth_date_consent_at = user.identity_provider = None
    db.session.commit()
