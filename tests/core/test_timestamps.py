"""Every moment is stored with its zone on PostgreSQL (UTCDateTime: `timestamp with time
zone`), so a server or session in another TimeZone reads back the same instant."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from shop.accounts.models import User
from shop.extensions import db


def test_no_column_is_a_timestamp_without_time_zone(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no zones: UTCDateTime stores naive UTC there")
        naive = db.session.execute(text(
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = 'timestamp without time zone'")).scalars().all()
        assert naive == []


def test_a_verified_birth_date_moment_reads_back_the_same_in_a_seoul_session(app, make_user):
    user = make_user()
    moment = datetime(2026, 12, 3, 1, 2, 3, tzinfo=timezone.utc)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no session time zone")
        db.session.execute(text("SET LOCAL TimeZone = 'Asia/Seoul'"))
        db.session.get(User, user.id).birth_date_verified_at = moment
        db.session.flush()
        db.session.expire_all()
        assert db.session.get(User, user.id).birth_date_verified_at == moment
        db.session.rollback()
