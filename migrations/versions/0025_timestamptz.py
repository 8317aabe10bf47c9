"""three timestamps keep their time zone on PostgreSQL, like every other

Revision ID: 0025_timestamptz
Revises: 0024_list_pages
Create Date: 2026-12-03 02:10:00

0019 added games.release_announced_at, users.birth_date_verified_at and
users.birth_date_consent_at as `timestamp without time zone`, while the models (and every
other column) use UTCDateTime, `timestamp with time zone` on PostgreSQL. A naive column
stores an aware value in the session's TimeZone: on a server set to Asia/Seoul the
moment would read back nine hours off. The values already stored were written in the
server's TimeZone and are read back in it. SQLite keeps naive UTC (UTCDateTime), so
nothing changes there.
"""
from alembic import op


revision = '0025_timestamptz'
down_revision = '0024_list_pages'
branch_labels = None
depends_on = None

COLUMNS = (("games", "release_announced_at"), ("users", "birth_date_verified_at"), ("users", "birth_date_consent_at"))


def upgrade():
    _retype("timestamp with time zone")


def downgrade():
    _retype("timestamp without time zone")


def _retype(to: str):
    """Each column as `to`, its values read (or written) in the server's TimeZone."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {to} "
                   f"USING {column} AT TIME ZONE current_setting('TimeZone')")
