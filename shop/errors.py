"""Domain errors and the site's error pages."""
import logging

import redis
from flask import current_app, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy import inspect
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of errors a service raises for the view to show as a message.

    Subclasses write `message = _l("...")` (English msgid, lazy: the class is built at
    import). The instance keeps it as plain text in the language of the request that
    raised it, so it can be flashed (the session stores strings) or sent as JSON."""

    message = _l("That could not be done.")

    def __init__(self, message: str | None = None):
        text = str(message or self.message)
        super().__init__(text)
        self.message = text


TITLES = {
    400: _l("Bad request"),
    403: _l("Not allowed"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    413: _l("Upload too large"),
    429: _l("Slow down"),
    500: _l("Something broke"),
    503: _l("Temporarily unavailable"),
}

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You don't have permission to do that."),
    404: _l("We couldn't find that page. It may have moved or never existed."),
    405: _l("That action isn't available here."),
    413: _l("That file is too large."),
    429: _l("Too many attempts in a short time. Please wait a moment and try again."),
    500: _l("An unexpected error happened on our side. It has been logged."),
    503: _l("Part of the store is down for a moment. Your data is safe; please try again shortly."),
}
BUSY = _l("Many visitors are here at once. Please try again in a moment.")

# Errors that mean "the database or Redis is unavailable right now", answered with 503.
# PoolTimeout: every connection of this process's pool stayed busy for pool_timeout
# seconds (the connection budget, config.connection_budget).
UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError, InterfaceError,
               PoolTimeout)

# What base.html reads about the logged-in user; all must already be loaded to show them.
_SHOWN_FIELDS = ("id", "nickname", "role", "avatar_key", "email_verified_at")


class PageIdentity:
    """The logged-in user as an error page shows them: the fields base.html reads,
    copied from the User the request had already loaded. Plain attributes, so the page
    never asks the database (which may be the very thing that failed)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, fields: dict):
        self.id = fields["id"]
        self.nickname = fields["nickname"]
        self.role = fields["role"]
        self.avatar_key = fields["avatar_key"]
        self.locale = fields.get("locale")  # the page speaks the account's language when it was loaded
        self.is_verified = fields["email_verified_at"] is not None
        self.is_admin = self.role == "admin"
        self.is_publisher = self.role in ("publisher", "admin")

    def get_id(self) -> str:
        return str(self.id)


def freeze_identity():
    """Make the request's identity safe to render without a query, before a rollback
    expires the loaded User: the User already loaded (copied), else anonymous. Otherwise
    Flask-Login loads the user for the page (`user_loader`, a query), and with the
    database unavailable that query fails again and the 503 page becomes a 500."""
    anonymous = current_app.login_manager.anonymous_user
    current = g.get("_login_user")
    if isinstance(current, (PageIdentity, anonymous)):
        return
    identity = None
    if current is not None:
        try:
            loaded = inspect(current).dict  # only what is loaded; never triggers a load
            if all(name in loaded for name in _SHOWN_FIELDS):
                identity = PageIdentity(loaded)
        except Exception:  # not a mapped object: show the page anonymously
            identity = None
    g._login_user = identity or anonymous()


def render_error(status: int, message: str | None = None):
    """The error page (or JSON), rendered without touching the database: the identity
    is what the request already loaded, and the badges that count rows show none."""
    freeze_identity()
    message = str(message or MESSAGES.get(status, ""))
    title = str(TITLES.get(status) or _l("Error"))
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error=title, message=message), status
    return (
        render_template("errors/error.html", status=status, title=title,
                        message=message, cart_count=_no_count, unread_notifications=_no_count),
        status,
    )


def _no_count() -> int:
    return 0


def register_error_pages(app):
    for status in TITLES:
        if status in (500, 503):
            continue
        app.register_error_handler(status, lambda e, s=status: render_error(s))

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return render_error(400, _l("Your form expired or was sent from elsewhere. Reload the page and try again."))

    @app.errorhandler(429)
    def too_many(e):
        return render_error(429)

    from .infra.redisconn import PoolBusy

    @app.errorhandler(PoolBusy)
    def redis_busy(e):
        """Every Redis connection of this process stayed in use: busy, not down."""
        log.warning("redis pool busy: %s", e)
        body, status = render_error(429, BUSY)
        response = current_app.make_response((body, status))
        response.headers["Retry-After"] = "2"
        return response

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def redis_down(e):
        log.error("redis unavailable: %s", e)
        return render_error(503)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_down(e):
        log.error("database unavailable: %s", e)
        freeze_identity()
        _rollback_quietly()
        return render_error(503)

    @app.errorhandler(503)
    def unavailable(e):
        return render_error(503)

    @app.errorhandler(500)
    def server_error(e):
        freeze_identity()
        _rollback_quietly()
        original = getattr(e, "original_exception", None)
        if isinstance(original, UNAVAILABLE):
            return render_error(503)
        return render_error(500)


def _rollback_quietly():
    from .extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection may be the thing that is broken
        log.exception("rollback failed")

