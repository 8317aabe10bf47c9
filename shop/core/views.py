"""Home page, health and readiness checks, and locally stored media."""
import mimetypes
import threading
import time

from flask import Blueprint, abort, jsonify, make_response, render_template
from sqlalchemy import text

from ..extensions import db, limiter
from ..infra.redisconn import redis_clients
from ..infra.storage import LocalStorage, get_storage

bp = Blueprint("core", __name__)


@bp.route("/")
def index():
    from ..catalog import cache, pagecache, storefront
    from ..catalog.views import RANKINGS_TTL, home_sections
    from ..timeutil import utcnow

    return pagecache.page(
        "/", [cache.GENERATION], lambda: min(storefront.price_ttl(utcnow()), RANKINGS_TTL),
        lambda: render_template("core/index.html", sections=home_sections()))


HEALTH_CACHE_SECONDS = 1.0  # /healthz asks the database and Redis at most this often per process


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """200 when the database and Redis answer, 503 (with which one) otherwise. Cheap under
    any traffic: each process asks them at most once a second, on a pooled connection, and
    answers from that in between. /readyz asks every time."""
    from flask import current_app

    state = current_app.extensions.setdefault("playcation.health", {"at": None, "status": None,
                                                                     "lock": threading.Lock()})
    fresh = state["at"] is not None and time.monotonic() - state["at"] < HEALTH_CACHE_SECONDS
    # One request per process asks; the others meanwhile answer from the last check.
    if not fresh and state["lock"].acquire(blocking=state["status"] is None):
        try:
            if state["at"] is None or time.monotonic() - state["at"] >= HEALTH_CACHE_SECONDS:
                state["status"], state["at"] = _dependencies(), time.monotonic()
        finally:
            state["lock"].release()
    return _health_response(state["status"])


@bp.route("/readyz")
@limiter.exempt
def readyz():
    """The deep check, for a load balancer deciding whether to send traffic: the database
    (a query on the games table) and Redis, asked on every call."""
    return _health_response(_dependencies(deep=True))


def _dependencies(deep: bool = False) -> dict:
    status = {}
    try:
        db.session.execute(text("SELECT 1 FROM games LIMIT 1" if deep else "SELECT 1"))
        status["database"] = "ok"
    except Exception as exc:
        db.session.rollback()
        status["database"] = f"down: {type(exc).__name__}"
    finally:
        db.session.remove()  # the connection goes back to the pool at once
    try:
        redis_clients.store.ping()
        status["redis"] = "ok"
    except Exception as exc:
        status["redis"] = f"down: {type(exc).__name__}"
    return status


def _health_response(status: dict):
    healthy = all(v == "ok" for v in status.values())
    return jsonify(status="ok" if healthy else "degraded", **status), 200 if healthy else 503


@bp.route("/media/<path:key>")
def media(key):
    """Serves uploads when files live in the local folder (S3 serves its own)."""
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        abort(404)
    try:
        data = storage.read(key)
    except (FileNotFoundError, ValueError, IsADirectoryError):
        abort(404)
    response = make_response(data)
    response.headers["Content-Type"] = mimetypes.guess_type(key)[0] or "application/octet-stream"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/language", methods=["POST"])
def set_language():
    """The header's language switcher: a cookie for everyone, and the account's setting
    (emails and notifications follow it) for a logged-in user."""
    from flask import flash, redirect, request
    from flask_babel import gettext as _
    from flask_login import current_user

    from ..accounts.profile import set_locale
    from ..web.forms import EmptyForm
    from ..web.i18n import COOKIE, COOKIE_AGE, normalize
    from ..web.urls import safe_next

    back = safe_next(_same_site_path(request.referrer), "/")  # back where the switcher was clicked
    if not EmptyForm().validate_on_submit():
        flash(_("Your session expired. Please try again."), "error")
        return redirect(back)
    lang = normalize(request.form.get("lang", "")[:8])
    if lang is None or len(request.form.get("lang", "")) > 8:
        flash(_("That language is not available."), "error")
        return redirect(back)
    if current_user.is_authenticated:
        set_locale(current_user, lang)
    response = redirect(back)
    response.set_cookie(COOKIE, lang, max_age=COOKIE_AGE, samesite="Lax",
                        secure=request.is_secure, httponly=True)
    return response


def _same_site_path(referrer: str | None) -> str | None:
    """The path (and query) of a referrer on this host; None for another site. The
    page is not echoed into a form field, so no URL ever lands in the markup."""
    from urllib.parse import urlsplit

    from flask import request

    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.netloc and parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
