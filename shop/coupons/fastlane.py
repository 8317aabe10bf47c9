"""The claim's fast lane: a small WSGI layer in front of Flask that answers the common
cases of `POST /coupons/<id>/claim` itself, and hands everything else to Flask.

Why: in a stampede the claim is the hottest route by far, and most of its cost is
Flask's general machinery (request and app contexts, two signed-cookie serializers
built per request, URL matching, every before/after hook: the request log even loads
the User row from the database). The answer itself is a sold-out flag or one Lua call.

What it answers, with exactly the view's responses (tests/coupons/test_fastlane.py
compares them byte for byte, headers included):
  a session cookie signed by this app (Flask's own serializer) whose `_user_id` is
  "<id>:<session token>:<login session id>"; a valid CSRF token (flask_wtf.csrf.validate_csrf's rules:
  the form field, else the X-CSRFToken header, signed with the app secret and matching
  session["csrf_token"], within WTF_CSRF_TIME_LIMIT; the referrer check on HTTPS);
  Flask-Login's session protection satisfied; then the local sold-out flag, else the
  login's record (accounts/sessions.py: gone after "Log out", so no copy of a logged-out
  cookie claims) and the Redis copy of the session (auth_cache: token, verified, active —
  a suspended user is not active; on a miss one read of the row, as auth_cache does),
  both in one pipelined round trip, and services.claim()
  (one Lua call, the per-user and per-IP limits counted inside it).
  JSON for `Accept: application/json`, else the coupons/_outcome.html fragment
  (rendered once per language and outcome when the lane starts; the rate-limited one
  carries a fresh CSRF token, as csrf_token() would give), in the language
  claim_locale.py reads from the `lang` cookie or Accept-Language, never the user row.

Everything else goes to Flask untouched, before any side effect: no or a bad cookie,
a session Flask-Login or Flask would rewrite (remember-me, permanent, protection
mismatch), a missing/wrong/expired CSRF token, a query string, a body other than
`csrf_token=<token>`, a login that ended, a session the user's row or its Redis copy refuses, an event
whose Redis state is gone or that doesn't exist, any error. If the app has a
before/after-request hook this lane doesn't know about, the lane switches itself off
(and says so in the log) rather than skip it.
"""
import hashlib
import hmac
import io
import itertools
import logging
import re
import time

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadData, URLSafeTimedSerializer
from itsdangerous.signer import HMACAlgorithm
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import HTTP_STATUS_CODES, parse_accept_header
from werkzeug.sansio.utils import get_host

from ..infra.metrics import count_claim
from ..errors import PoolBusy
from ..infra.requestlog import REQUEST_ID_HEADER, log_request, request_id_from
from ..web.i18n import LOCALES
from ..web.security import BASE_HEADERS
from . import gates
from .claim_locale import claim_locale

log = logging.getLogger(__name__)

CLAIM_PATH = re.compile(r"/coupons/([1-9][0-9]{0,15})/claim")
TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")
FORM_BODY = re.compile(rb"csrf_token=([A-Za-z0-9_.\-]+)")
FORM_TYPES = ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8")
MAX_BODY = 1024
ID_MARK = "987654321987654321"          # stands for the event id in pre-rendered fragments
CSRF_MARK = "__fastlane_csrf_token__"   # stands for csrf_token() in the rate-limited one

# The hooks this lane reproduces (or knows to be no-ops for the claim). Anything else
# registered on the app turns the lane off.
KNOWN_BEFORE = {"shop.infra.requestlog.init_app.<locals>._start", "flask_wtf.csrf.CSRFProtect.init_app.<locals>.csrf_protect",
                "flask_limiter._extension.Limiter._check_request_limit",
                "shop.web.security.init_app.<locals>.refuse_nul_bytes"}
KNOWN_AFTER = {"shop.infra.requestlog.init_app.<locals>._finish",
               "flask_login.login_manager.LoginManager._update_remember_cookie",
               "Limiter.__inject_headers", "shop.web.security.init_app.<locals>.security_headers"}
KNOWN_TEARDOWN = {"Limiter.__release_context"}


def _reuse_signers(serializer):
    """The serializer, verifying exactly as before, without rebuilding its signer per call.

    itsdangerous makes a new Signer on every loads()/dumps(), and the Signer derives its
    key again (a hash of salt + secret) on every verification: two of the three HMAC/hash
    runs of a session check. The signers here are made once per salt, with each secret
    key's derivation done once (and SHA-1 by name, see below); unsign() itself, the
    timestamp and payload checks are the library's. Signers keep no per-call state, so
    one can serve every greenlet."""
    made, make = {}, serializer.make_signer

    def make_signer(salt=None):
        signer = made.get(salt)
        if signer is None:
            signer = make(salt)
            derive = signer.derive_key
            keys = {key: derive(key) for key in signer.secret_keys}
            if getattr(signer.digest_method, "__name__", "") == "_lazy_sha1":
                # Flask's and itsdangerous' SHA-1 (looked up lazily for FIPS builds) is a
                # Python function, which sends hmac down its pure-Python path; by name
                # it is the same HMAC-SHA1, computed by OpenSSL.
                signer.algorithm = HMACAlgorithm("sha1")
            newest = keys[signer.secret_keys[-1]]
            signer.derive_key = lambda secret_key=None: newest if secret_key is None else (
                keys.get(secret_key) or derive(secret_key))
            made[salt] = signer
        return signer

    serializer.make_signer = make_signer
    return serializer


def _hook_name(fn) -> str:
    fn = getattr(fn, "func", fn)  # functools.partial
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def _known(name: str, known: set[str]) -> bool:
    return name in known or any(name.endswith(k) for k in known if not k.startswith(("shop.", "flask")))


class ClaimFastLane:
    """WSGI middleware around `app.wsgi_app`; `inner` is what it hands requests to."""

    def __init__(self, app, inner):
        self.app = app
        self.inner = inner
        self.ready = False
        self.enabled = True
        self._accept_cache: dict[str, bool] = {}

    # --- set-up, on the first claim (blueprints and templates exist by then) -------------

    def _start(self):
        app = self.app
        unknown = self._unknown_hooks()
        if unknown or type(app.session_interface) is not SecureCookieSessionInterface:
            self.enabled = False
            log.warning("coupon claim fast lane off: the app has hooks it doesn't reproduce: %s",
                        unknown or type(app.session_interface).__name__)
            self.ready = True
            return
        from flask import jsonify, render_template
        from flask_babel import force_locale

        from ..accounts import auth_cache
        from ..accounts.login import parse_login_id
        from ..accounts.sessions import record_key
        from ..web.security import content_security_policy
        from . import services, views

        self.services, self.auth_cache = services, auth_cache
        self.parse_login_id, self.record_key = parse_login_id, record_key
        self.session_serializer = _reuse_signers(app.session_interface.get_signing_serializer(app))
        self.session_max_age = int(app.permanent_session_lifetime.total_seconds())
        cfg = app.config
        self.csrf_serializer = _reuse_signers(URLSafeTimedSerializer(cfg.get("WTF_CSRF_SECRET_KEY") or app.secret_key,
                                                                     salt="wtf-csrf-token"))
        self.cookie_name = cfg["SESSION_COOKIE_NAME"]
        self.csp = content_security_policy(cfg)

        self.store = app.extensions["redis_store"]
        # Keyed by (locale, outcome): each reader gets the answer in their language.
        self.json_bodies, self.fragments = {}, {}
        with app.test_request_context("/"):
            for locale, (outcome, message) in itertools.product(LOCALES, views.MESSAGES.items()):
                with force_locale(locale):
                    self.json_bodies[locale, outcome] = jsonify(outcome=outcome, message=message).get_data()
                    self.fragments[locale, outcome] = render_template(
                        "coupons/_outcome.html", outcome=outcome, event_id=int(ID_MARK), message=message,
                        csrf_token=lambda: CSRF_MARK)
        self.ready = True

    def _unknown_hooks(self) -> list[str]:
        app = self.app
        found = []
        for hooks, known in ((app.before_request_funcs, KNOWN_BEFORE), (app.after_request_funcs, KNOWN_AFTER),
                             (app.teardown_request_funcs, KNOWN_TEARDOWN)):
            known = known | gates.hook_names() if known is KNOWN_BEFORE else known
            for blueprint in (None, "coupons"):
                found += [n for n in map(_hook_name, hooks.get(blueprint, ())) if not _known(n, known)]
        for registry in (app.url_value_preprocessors, app.url_default_functions):
            found += [_hook_name(f) for bp in (None, "coupons") for f in registry.get(bp, ())]
        return found

    # --- the request ---------------------------------------------------------------------

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "POST" or not self.enabled:
            return self.inner(environ, start_response)
        match = CLAIM_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or environ.get("QUERY_STRING") or environ.get("SCRIPT_NAME"):
            return self.inner(environ, start_response)
        if not self.ready:
            self._start()
            if not self.enabled:
                return self.inner(environ, start_response)
        started = time.perf_counter()
        try:
            answer = self._answer(environ, int(match.group(1)))
        except Exception:  # anything unexpected: Flask answers (and logs) it
            log.debug("fast lane handed a claim to Flask after an error", exc_info=True)
            answer = None
        if answer is None:
            return self.inner(environ, start_response)
        return self._respond(environ, start_response, started, *answer)

    def _answer(self, environ, event_id: int):
        """(status, outcome, user id, wants JSON, session csrf secret) or None for Flask."""
        cfg = self.app.config
        if not (cfg["WTF_CSRF_ENABLED"] and cfg["WTF_CSRF_CHECK_DEFAULT"]) or cfg.get(
                "REMEMBER_COOKIE_REFRESH_EACH_REQUEST"):
            return None
        form_token = self._form_token(environ)
        if form_token is False:
            return None
        cookie = self._session_cookie(environ.get("HTTP_COOKIE"))
        if cookie is None:
            return None
        try:
            session = self.session_serializer.loads(cookie, max_age=self.session_max_age)
        except BadData:
            return None
        if not isinstance(session, dict) or "_remember" in session or "_permanent" in session:
            return None  # Flask-Login or Flask would write the cookie: let them
        ids = self.parse_login_id(session.get("_user_id"))
        if ids is None:
            return None
        user_id, token, sid = ids
        if not self._csrf_ok(environ, session, form_token, cfg) or not self._identity_ok(environ, session, cfg):
            return None
        wants_json = self._wants_json(environ.get("HTTP_ACCEPT"))
        try:
            return self._claim(environ, event_id, user_id, sid, token, wants_json, session)
        except PoolBusy:  # this process's Redis connections all stayed busy: not an outage, try again
            return 429, "busy", user_id, wants_json, session

    def _claim(self, environ, event_id: int, user_id: int, sid: str, token: str, wants_json: bool, session):
        """The claim once the request is known good; None hands it to Flask. Raises
        PoolBusy (the caller answers 429 "busy")."""
        services = self.services
        if services.sold_out_cached(event_id):
            return 200, "sold_out", user_id, wants_json, session
        cached = self._auth_copy(user_id, sid)
        if cached is None:
            return None  # no such user, or a login that ended: the view answers
        stored_token, verified, active = cached.split("|")
        if not hmac.compare_digest(stored_token, token) or active != "1":
            return None  # refused: the view answers (login_required, with Flask-Login's cookies)
        if verified != "1":
            return 403, "unverified", user_id, wants_json, session
        if not gates.allows(self.app, environ, event_id, user_id):
            return None  # e.g. no waiting-room pass: Flask's hook answers
        with self.app.app_context():
            try:
                outcome = services.claim(event_id, user_id, environ.get("REMOTE_ADDR") or "-")
            except services.NoSuchEvent:
                return None  # the view answers 404 (nothing was counted)
        return (429 if outcome == "rate_limited" else 200), outcome, user_id, wants_json, session

    def _auth_copy(self, user_id: int, sid: str) -> str | None:
        """auth_cache.session_user()'s lookup: None if the login's record is gone (a
        logged-out cookie copy), else the Redis copy, else (a miss, or a tombstone left
        by a change) one read of the user's row; a miss is filled, a tombstone isn't.
        The record check shares the copy's round trip (one pipeline)."""
        auth_cache = self.auth_cache
        key = auth_cache._key(user_id)
        with self.store.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.exists(self.record_key(user_id, sid))
            cached, alive = pipe.execute()
        if not alive:
            return None
        if cached is not None and cached != auth_cache.TOMBSTONE:
            return cached
        with self.app.app_context():
            fresh = auth_cache._load(user_id)
        if fresh is not None and cached is None:
            self.store.set(key, fresh, ex=auth_cache.TTL, nx=True)
        return fresh

    def _form_token(self, environ):
        """The form's csrf_token; None if there is no body; False for anything else."""
        if environ.get("HTTP_TRANSFER_ENCODING"):
            return False
        length = environ.get("CONTENT_LENGTH") or "0"
        if length == "0":
            return None if environ.get("CONTENT_TYPE", "").lower() in ("", *FORM_TYPES) else False
        if not length.isdigit() or int(length) > MAX_BODY or environ.get("CONTENT_TYPE", "").lower() not in FORM_TYPES:
            return False
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)  # Flask can still read it if it gets the request
        environ["wsgi.input_terminated"] = True
        environ["CONTENT_LENGTH"] = str(len(body))
        match = FORM_BODY.fullmatch(body)
        return match.group(1).decode() if match else False

    def _session_cookie(self, header):
        if not header:
            return None
        found = None
        for part in header.split(";"):
            name, eq, value = part.strip().partition("=")
            if name == self.cookie_name:
                if found is not None or not TOKEN.fullmatch(value):
                    return None  # two of them, or quoting: Flask decides
                found = value
        return found

    def _csrf_ok(self, environ, session, form_token, cfg) -> bool:
        data = form_token
        if not data:
            for header in cfg["WTF_CSRF_HEADERS"]:
                data = environ.get("HTTP_" + header.upper().replace("-", "_"))
                if data:
                    break
        field = cfg["WTF_CSRF_FIELD_NAME"]
        if not data or field not in session or field != "csrf_token":
            return False
        try:
            raw = self.csrf_serializer.loads(data, max_age=cfg.get("WTF_CSRF_TIME_LIMIT", 3600))
        except BadData:
            return False
        secret = session[field]
        if not isinstance(raw, str) or not isinstance(secret, str) or not hmac.compare_digest(secret, raw):
            return False
        if environ.get("wsgi.url_scheme") in ("https", "wss") and cfg["WTF_CSRF_SSL_STRICT"]:
            from flask_wtf.csrf import same_origin

            referrer = environ.get("HTTP_REFERER")
            host = get_host(environ["wsgi.url_scheme"], environ.get("HTTP_HOST"),
                            (environ.get("SERVER_NAME"), int(environ.get("SERVER_PORT") or 0) or None),
                            cfg.get("TRUSTED_HOSTS"))
            if not referrer or not same_origin(referrer, f"https://{host}/"):
                return False
        return True

    def _identity_ok(self, environ, session, cfg) -> bool:
        """Flask-Login's session protection would leave this session alone (see
        flask_login.utils._create_identifier: the same bytes, formatted the same way)."""
        from ..extensions import login_manager

        mode = cfg.get("SESSION_PROTECTION", login_manager.session_protection)
        if not mode or mode not in ("basic", "strong"):
            return True
        address = environ.get("HTTP_X_FORWARDED_FOR", environ.get("REMOTE_ADDR"))
        if address is not None:
            address = address.encode("utf-8").split(b",")[0].strip()
        agent = environ.get("HTTP_USER_AGENT")
        if agent is not None:
            agent = agent.encode("utf-8")
        ident = hashlib.sha512(f"{address}|{agent}".encode("utf8")).hexdigest()
        return ident == session.get("_id")

    def _wants_json(self, accept) -> bool:
        if accept is None:
            return False
        wants = self._accept_cache.get(accept)
        if wants is None:
            wants = parse_accept_header(accept, MIMEAccept).best == "application/json"
            if len(self._accept_cache) < 512:
                self._accept_cache[accept] = wants
        return wants

    # --- the response: what the view + after_request hooks + session save would send ------

    def _respond(self, environ, start_response, started, status, outcome, user_id, wants_json, session):
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        htmx = "HTTP_HX_REQUEST" in environ
        locale = claim_locale(environ.get("HTTP_COOKIE"), environ.get("HTTP_ACCEPT_LANGUAGE"))
        if wants_json:
            body = self.json_bodies[locale, outcome]
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       (REQUEST_ID_HEADER, request_id), *BASE_HEADERS,
                       ("Vary", "HX-Request, Cookie" if htmx else "Cookie")]
        else:
            html = self.fragments[locale, outcome].replace(ID_MARK, str(self._event_id(environ)))
            if CSRF_MARK in html:
                html = html.replace(CSRF_MARK, self.csrf_serializer.dumps(session["csrf_token"]))
            body = html.encode()
            headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                       (REQUEST_ID_HEADER, request_id), *BASE_HEADERS,
                       ("Content-Security-Policy", self.csp), ("Vary", "HX-Request, Cookie")]
        if outcome == "busy":
            headers.append(("Retry-After", "2"))
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
        count_claim(outcome, "fast")
        log_request(request_id, "POST", environ["PATH_INFO"], "coupons.claim", status, started,
                    environ.get("REMOTE_ADDR"), user_id, htmx, False)
        return [body]

    @staticmethod
    def _event_id(environ) -> int:
        return int(CLAIM_PATH.fullmatch(environ["PATH_INFO"]).group(1))


def install(app):
    """Put the fast lane in front of the app's WSGI callable (call before ProxyFix wraps
    it, so the lane sees the client address ProxyFix worked out)."""
    app.wsgi_app = ClaimFastLane(app, app.wsgi_app)
    return app.wsgi_app
