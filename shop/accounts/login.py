"""Logging a browser in and out: Flask-Login's cookies plus the login's record
(accounts/sessions.py). Every log-in of the store (password, sign-up, social) goes
through log_in, every log-out through log_out, and Flask-Login loads users with load_user.
"""
import hmac
import logging

from flask import after_this_request, current_app, g, request, session
from flask_login import current_user, login_user, logout_user
from flask_login.utils import decode_cookie

from ..extensions import db
from ..web.i18n import COOKIE, COOKIE_AGE, normalize
from ..infra import memberview
from . import services, sessions, user_row
from .models import User

log = logging.getLogger(__name__)


def parse_login_id(raw) -> tuple[int, str, str] | None:
    """(user id, session token, session id) from a login cookie id, unchecked."""
    parts = str(raw or "").split(":")
    if len(parts) != 3:
        return None
    uid, token, sid = parts
    if not (uid.isascii() and uid.isdigit() and len(uid) <= 12) or not token or not sessions.SESSION_ID.fullmatch(sid):
        return None
    return int(uid), token, sid


def load_user(login_id: str) -> User | None:
    """Flask-Login's user loader: the login's record must be alive (checked first: a
    logged-out cookie costs no database query) and the token the user's current one."""
    ids = parse_login_id(login_id)
    if ids is None:
        return None
    uid, token, sid = ids
    alive, generations = sessions.check(uid, sid, request.remote_addr,
                                        also=(memberview.generation_key(uid), memberview.ALL))
    if not alive:
        return None
    user = user_row.read(uid)
    if user is None or not hmac.compare_digest(user.session_token, token):
        return None
    user.login_session_id = sid
    g.member_view = memberview.stamp(generations)  # what the member's cached parts must match
    return user


def log_in(user: User, remember: bool = False) -> None:
    """A fresh session (no fixation) for `user`, with a login record of its own.
    Raises sessions.StoreUnavailable (nothing changed: the visitor stays as they were)."""
    sid = sessions.start(user, user_agent=request.headers.get("User-Agent"), remote_addr=request.remote_addr,
                         remember=remember)
    session.clear()
    user.login_session_id = sid
    login_user(user, remember=remember)
    remember_language(user.locale)


def remember_language(locale: str | None) -> None:
    """Give this browser the account's language as the `lang` cookie too, so the paths
    that never load the user (the coupon fast lane) speak it as well."""
    lang = normalize(locale)
    if lang is None:
        return

    @after_this_request
    def set_cookie(response):
        response.set_cookie(COOKIE, lang, max_age=COOKIE_AGE, samesite="Lax", secure=request.is_secure,
                            httponly=True)
        return response


def log_out() -> bool:
    """End this browser's login: its record (so every copy of its session and
    remember-me cookies stops working), the session, and the remember-me cookie.

    If the record cannot be deleted (Redis unreachable), the user's session token is
    rotated instead, which ends every login of the account: a log-out never leaves a
    working copy behind. Returns False in that case."""
    ids = _this_login()
    ended = True
    if ids is not None:
        uid, token, sid = ids
        try:
            sessions.end(uid, sid)
        except sessions.StoreUnavailable:
            log.warning("login record of user %s not deleted; ending every login of the account", uid)
            services.end_every_login(uid, token)
            ended = False
    logout_user()
    # Flask-Login asks its after-request hook to delete the remember-me cookie through
    # the session ("_remember": "clear"); the rest of the session goes.
    instruction = session.get("_remember")
    session.clear()
    if instruction == "clear":
        session["_remember"] = instruction
    return ended


def _this_login() -> tuple[int, str, str] | None:
    """The login this request carries, confirmed or not (when Redis is down the user
    shows as anonymous, yet the cookies still name a login to end)."""
    if current_user.is_authenticated:
        return current_user.id, current_user.session_token, current_user.login_session_id
    ids = parse_login_id(session.get("_user_id"))
    if ids is None:
        cookie = request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))
        ids = parse_login_id(decode_cookie(cookie)) if cookie else None
    return ids
