"""Generations of a member's own view of the store, for caching what only they see.

A logged-in page is one shared body plus the visitor's own parts (catalog/overlay.py):
the header with its cart and bell counts, which games they own or have in the cart.
Those parts are cached per member under their *generation* (`mview:<user id>`), a
counter bumped after any commit that changes a row they are built from, so a cached part
is never served once its rows have changed. A part is read from Redis and trusted only
for the generation it was built under.

The rows are named by table (`watch`): each part of the store registers its own tables,
with the column naming the member. A change is seen
- in ORM objects flushed (added, changed, deleted), by their member column;
- in UPDATE / DELETE statements whose WHERE names the member (`col == :id`,
  `col IN (...)`);
- anything else (an INSERT … SELECT, an UPDATE by game) bumps every member at once
  (`mview:all`), unless the statement says `member_views_named=True` and its caller
  names the members itself with `changed(ids)`.

The bumps go out after commit, and a rolled-back transaction's are dropped (a savepoint's
are kept: bumping too often costs a render, never a wrong page). If Redis cannot take
them, the cached parts also expire after TTL seconds.
"""
import logging

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

from .redisconn import redis_clients

log = logging.getLogger(__name__)

ALL = "mview:all"
TTL = 3600
_WATCHED: dict[str, str] = {}  # table name -> the column naming the member
_PENDING = "member_views_changed"


def watch(table, column: str = "user_id") -> None:
    """Changes to rows of `table` change the view of the member named by `column`."""
    _WATCHED[table.name] = column


def generation_key(user_id: int) -> str:
    return f"mview:{user_id}"


def changed(user_ids, session: Session | None = None) -> None:
    """Bump these members' generations once the current transaction commits."""
    from ..extensions import db

    session = session or db.session()
    session.info.setdefault(_PENDING, set()).update(int(u) for u in user_ids if u is not None)


def bump_now(user_ids=(), everyone: bool = False) -> None:
    """Bump generations at once (outside a transaction, e.g. an admin tool)."""
    try:
        with redis_clients.store.pipeline(transaction=False) as pipe:
            for uid in set(user_ids):
                pipe.incr(generation_key(uid))
                pipe.expire(generation_key(uid), TTL * 24)
            if everyone:
                pipe.incr(ALL)
            pipe.execute()
    except Exception:  # the cached parts run out after TTL
        log.warning("could not bump member view generations", exc_info=True)


def stamp(values) -> str:
    """The stamp of a member's parts from GET mview:<id> and GET mview:all."""
    mine, everyone = values
    return f"{int(mine or 0)}.{int(everyone or 0)}"


@event.listens_for(Session, "after_flush")
def _seen_in_flush(session, flush_context):
    if not _WATCHED:
        return
    ids = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__table__", None)
        column = _WATCHED.get(getattr(table, "name", None))
        if column is not None:
            ids.add(getattr(obj, column, None))
    ids.discard(None)
    if ids:
        session.info.setdefault(_PENDING, set()).update(ids)


@event.listens_for(Session, "do_orm_execute")
def _seen_in_statement(state):
    if not _WATCHED or not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    column = _WATCHED.get(getattr(table, "name", None))
    if column is None or state.execution_options.get("member_views_named"):
        return
    ids = None if state.is_insert else _named(getattr(state.statement, "whereclause", None), column)
    pending = state.session.info.setdefault(_PENDING, set())
    if ids is None:
        pending.add("*")
    else:
        pending.update(ids)


def _named(clause, column: str) -> set | None:
    """The member ids a WHERE clause pins `column` to (its ANDed `col = v` or `col IN
    (...)`), or None when it names none."""
    if clause is None:
        return None
    terms = clause.clauses if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_ else [clause]
    for term in terms:
        if not isinstance(term, BinaryExpression) or getattr(term.left, "name", None) != column:
            continue
        right = term.right
        if term.operator is operators.eq and isinstance(right, BindParameter):
            return {right.value}
        if term.operator is operators.in_op and isinstance(right, BindParameter) and right.expanding:
            return set(right.value or ())
    return None


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session):
    if session.get_nested_transaction() is not None:
        return  # a released SAVEPOINT: the enclosing transaction decides
    pending = session.info.pop(_PENDING, None)
    if pending:
        bump_now({u for u in pending if u != "*"}, everyone="*" in pending)


@event.listens_for(Session, "after_transaction_end")
def _forget_on_rollback(session, transaction):
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_PENDING, None)  # after a commit's bumps, or a rollback's nothing
