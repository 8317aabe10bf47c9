"""The WSGI app bench/coupon_storm.py serves: the real app (`create_app()`, exactly what
`wsgi:app` is) plus a benchmark-only blueprint under /__storm with the approaches the
claim path is compared with. None of this lives in the shop package; only
bench/coupon_storm.py starts gunicorn with this module, on 127.0.0.1.

Every /__storm route is a POST that goes through Flask's global middleware, as
POST /coupons/<id>/claim does when the fast lane hands it over (session cookie decoding, Flask-WTF CSRFProtect, Flask-Limiter's
before/after hooks, the security-headers after_request) and answers the same JSON:

  /__storm/empty                 not Flask at all (a plain WSGI function in front of it): the
                                 server's own cost per request, for scale
  /__storm/bare                  the ceiling: CSRF-checked POST (so the session cookie is
                                 decoded too), constant JSON; no session user check, no
                                 Redis, no database; exempt from Flask-Limiter exactly
                                 like the claim route
  /__storm/naive/<e>             session check (the same Redis auth copy as the real
                                 route), then ONE SELECT (quantity, count(*), already?)
                                 and, if there is room, INSERT + COMMIT: check-then-insert
                                 with no lock, which oversells under concurrency
  /__storm/rowlock/<e>           session check, then BEGIN; SELECT ... FROM bench_events
                                 WHERE id = e FOR UPDATE; already?; INSERT; UPDATE issued;
                                 COMMIT (one PostgreSQL row lock per claim)
  /__storm/redislock/<e>         session check, then a redis-py Lock on the event around
                                 the same check + INSERT + COMMIT (the Redisson-style
                                 distributed lock per claim)

Tables (created by the harness, not by migrations): bench_events(id, quantity, issued)
and bench_claims(event_id, user_id, ...) WITHOUT a unique constraint, so an oversell or
a duplicate shows up as rows.
"""
import os

from flask import Blueprint, jsonify, request
from sqlalchemy import text

from wsgi import app as flask_app
from shop.accounts.auth_cache import session_user
from shop.coupons.views import MESSAGES
from shop.extensions import db, limiter
from shop.infra.redisconn import redis_clients

bp = Blueprint("storm", __name__, url_prefix="/__storm")

# redis-py's Lock polls; Redisson waits on pub/sub. The harness picks the poll interval.
LOCK_SLEEP = float(os.environ.get("STORM_LOCK_SLEEP", "0.5"))
LOCK_WAIT = float(os.environ.get("STORM_LOCK_WAIT", "20"))


def _answer(outcome, status=200):
    return jsonify(outcome=outcome, message=MESSAGES.get(outcome, outcome)), status


def _who():
    who = session_user()
    if who is None:
        return None, _answer("login_required", 401)
    if not who[1]:
        return None, _answer("unverified", 403)
    return who[0], None


@limiter.request_filter
def _bare_skips_limiter():
    return request.endpoint == "storm.bare"


@bp.post("/bare")
@limiter.exempt  # the same Flask-Limiter exemption as the real claim route, so it stays a ceiling
def bare():
    return _answer("claimed")


CHECK = text("""
    SELECT e.quantity,
           (SELECT count(*) FROM bench_claims c WHERE c.event_id = e.id) AS issued,
           EXISTS (SELECT 1 FROM bench_claims c WHERE c.event_id = e.id AND c.user_id = :u) AS mine
      FROM bench_events e WHERE e.id = :e""")
INSERT = text("INSERT INTO bench_claims (event_id, user_id, approach) VALUES (:e, :u, :a)")


@bp.post("/naive/<int:event_id>")
def naive(event_id):
    user_id, refused = _who()
    if refused:
        return refused
    try:
        row = db.session.execute(CHECK, {"e": event_id, "u": user_id}).one()
        if row.mine:
            return _answer("already_claimed")
        if row.issued >= row.quantity:
            return _answer("sold_out")
        db.session.execute(INSERT, {"e": event_id, "u": user_id, "a": "naive"})
        db.session.commit()
        return _answer("claimed")
    finally:
        db.session.rollback()


LOCKED = text("SELECT quantity, issued FROM bench_events WHERE id = :e FOR UPDATE")
UNLOCKED = text("SELECT quantity, issued FROM bench_events WHERE id = :e")
MINE = text("SELECT EXISTS (SELECT 1 FROM bench_claims WHERE event_id = :e AND user_id = :u)")
BUMP = text("UPDATE bench_events SET issued = issued + 1 WHERE id = :e")


def _claim_in_db(event_id, user_id, approach, lock_row):
    """quantity/issued (row-locked or not), already?, INSERT + issued + 1, COMMIT."""
    try:
        quantity, issued = db.session.execute(LOCKED if lock_row else UNLOCKED, {"e": event_id}).one()
        if db.session.execute(MINE, {"e": event_id, "u": user_id}).scalar():
            return "already_claimed"
        if issued >= quantity:
            return "sold_out"
        db.session.execute(INSERT, {"e": event_id, "u": user_id, "a": approach})
        db.session.execute(BUMP, {"e": event_id})
        db.session.commit()
        return "claimed"
    finally:
        db.session.rollback()  # releases the row lock on every non-claim outcome too


@bp.post("/rowlock/<int:event_id>")
def rowlock(event_id):
    user_id, refused = _who()
    if refused:
        return refused
    return _answer(_claim_in_db(event_id, user_id, "rowlock", lock_row=True))


@bp.post("/redislock/<int:event_id>")
def redislock(event_id):
    user_id, refused = _who()
    if refused:
        return refused
    lock = redis_clients.store.lock(f"bench:lock:{event_id}", timeout=10, sleep=LOCK_SLEEP,
                                    blocking_timeout=LOCK_WAIT)
    if not lock.acquire():
        return _answer("lock_timeout", 503)
    try:
        return _answer(_claim_in_db(event_id, user_id, "redislock", lock_row=False))
    finally:
        lock.release()


flask_app.register_blueprint(bp)

EMPTY_BODY = b'{"message":"","outcome":"claimed"}\n'


def app(environ, start_response):
    """/__storm/empty is answered here, before Flask: a constant JSON with no cookie or CSRF
    check, the same gunicorn config — what the server alone costs per request (the floor
    under every other figure). Everything else is the Flask app."""
    if environ.get("PATH_INFO") == "/__storm/empty":
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(EMPTY_BODY)))])
        return [EMPTY_BODY]
    return flask_app(environ, start_response)
