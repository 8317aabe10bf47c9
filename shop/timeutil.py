"""Times are stored in UTC and shown in Asia/Seoul."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.types import DateTime, TypeDecorator

SEOUL = ZoneInfo("Asia/Seoul")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python on every database.

    SQLite has no time zones, so values are stored as naive UTC and tagged on the way
    out; PostgreSQL gets `timestamp with time zone`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use shop.timeutil.utcnow()")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def to_seoul(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(SEOUL)


def format_seoul(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_seoul(value)
    return local.strftime(fmt) if local else ""


def seoul_today(now: datetime | None = None):
    """Today's date in Korea (release dates and ages are Korean calendar days)."""
    return to_seoul(now or utcnow()).date()
