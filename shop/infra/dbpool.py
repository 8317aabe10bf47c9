"""Checking a pooled database connection before use only when it sat idle.

SQLAlchemy's `pool_pre_ping` sends `SELECT 1` at every checkout: a round trip to the
server before each request's first query, even on a connection returned a millisecond
ago. Like HikariCP, which skips its check for a connection used in the last 500 ms,
the store pings a connection only when it was last returned more than IDLE_SECONDS ago
(or never used); one in steady use is known to work. A ping that fails raises
DisconnectionError, so the pool drops that connection and hands out another.

A connection the server closed within that window (a restart) is found by its next
statement instead: SQLAlchemy then invalidates the whole pool, and that one request gets
the "temporarily unavailable" page (shop/errors.py); the next ones get new connections.
"""
from time import monotonic

from sqlalchemy import event, exc

IDLE_SECONDS = 2.0
_RETURNED = "playcation.returned_at"


def install(engine) -> None:
    """Ping `engine`'s connections at checkout when they sat idle (instead of always)."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkin")
    def _returned(dbapi_connection, record):
        record.info[_RETURNED] = monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _check(dbapi_connection, record, proxy):
        returned = record.info.get(_RETURNED)
        if returned is not None and monotonic() - returned < IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # the driver's own error for a dead connection
            raise exc.DisconnectionError(f"a pooled connection failed its ping: {error}") from error
