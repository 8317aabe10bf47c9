"""Domain errors and the site's error pages."""
import logging

import redis
from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of errors a service raises for the view to show as a message."""

    message = "That could not be done."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message


TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    413: "Upload too large",
    429: "Slow down",
    500: "Something broke",
    503: "Temporarily unavailable",
}

MESSAGES = {
    400: "The request could not be understood.",
    403: "You don't have permission to do that.",
    404: "We couldn't find that page. It may have moved or never existed.",
    405: "That action isn't available here.",
    413: "That file is too large.",
    429: "Too many attempts in a short time. Please wait a moment and try again.",
    500: "An unexpected error happened on our side. It has been logged.",
    503: "Part of the store is down for a moment. Your data is safe; please try again shortly.",
}


def render_error(status: int, message: str | None = None):
    message = message or MESSAGES.get(status, "")
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error=TITLES.get(status, "Error"), message=message), status
    return (
        render_template("errors/error.html", status=status, title=TITLES.get(status, "Error"),
                        message=message),
        status,
    )


def register_error_pages(app):
    for status in TITLES:
        if status in (500, 503):
            continue
        app.register_error_handler(status, lambda e, s=status: render_error(s))

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return render_error(400, "Your form expired or was sent from elsewhere. Reload the page and try again.")

    @app.errorhandler(429)
    def too_many(e):
        return render_error(429)

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def redis_down(e):
        log.error("redis unavailable: %s", e)
        return render_error(503)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_down(e):
        log.error("database error: %s", e)
        _rollback_quietly()
        return render_error(503)

    @app.errorhandler(503)
    def unavailable(e):
        return render_error(503)

    @app.errorhandler(500)
    def server_error(e):
        _rollback_quietly()
        original = getattr(e, "original_exception", None)
        if isinstance(original, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                                 OperationalError, InterfaceError)):
            return render_error(503)
        return render_error(500)


def _rollback_quietly():
    from .extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection may be the thing that is broken
        log.exception("rollback failed")

