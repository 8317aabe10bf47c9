"""Playcation: a game store. `create_app` builds the Flask application."""

from flask import Flask, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import DEFAULT_SECRET_KEY, INSTANCE, ROOT, config_from_env
from .extensions import csrf, db, limiter, login_manager, migrate
from .infra.redisconn import redis_clients
from .infra.redisconn import limiter_storage_uri
from .extensions import mail as mail_ext  # `shop.infra.mail` is the mail module


def create_app(config=None, **overrides) -> Flask:
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(INSTANCE))
    app.config.from_object(config or config_from_env())
    app.config.update(overrides)
    from .web import numbers

    numbers.init_app(app)  # `<int:...>` is ASCII digits within the id columns' range, else 404
    if app.config["ENV_NAME"] == "production" and app.config["SECRET_KEY"] in (None, "", DEFAULT_SECRET_KEY):
        raise RuntimeError("Refusing to start in production with the default SECRET_KEY; set SECRET_KEY.")
    app.config.setdefault("RATELIMIT_STORAGE_URI", None)
    if not app.config["RATELIMIT_STORAGE_URI"]:
        app.config["RATELIMIT_STORAGE_URI"] = limiter_storage_uri(app.config["REDIS_URL"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        INSTANCE.mkdir(parents=True, exist_ok=True)
    if app.config.get("COUPON_FAST_LANE", True):
        from .coupons import fastlane

        fastlane.install(app)  # inside ProxyFix: it sees the client address ProxyFix works out
    if int(app.config.get("TRUSTED_PROXIES", 0) or 0):
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    from .infra import requestlog

    requestlog.init_app(app)
    from .infra import metrics

    metrics.init_app(app)

    db.init_app(app)
    with app.app_context():
        from .infra import dbpool

        for engine in db.engines.values():
            dbpool.install(engine)  # a connection is pinged only when it sat idle
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    mail_ext.init_app(app)
    limiter.init_app(app)
    redis_clients.init_app(app)
    from .social import providers as social_providers

    social_providers.init_app(app)

    _register_models()
    _register_blueprints(app)
    _register_login(app)
    _register_templates(app)
    _register_cli(app)

    from .errors import register_error_pages

    register_error_pages(app)

    from .web import security

    security.init_app(app)  # security headers (CSP) and input guards

    return app


def _register_models():
    from .accounts import models as _accounts  # noqa: F401
    from .infra import mail as _mail  # noqa: F401
    from .catalog import models as _catalog  # noqa: F401
    from .notifications import models as _notifications  # noqa: F401
    from .cart import models as _cart  # noqa: F401
    from .library import models as _library  # noqa: F401
    from .orders import models as _orders  # noqa: F401
    from .reviews import models as _reviews  # noqa: F401
    from .coupons import models as _coupons  # noqa: F401
    from .loyalty import models as _loyalty  # noqa: F401
    from .gifts import models as _gifts  # noqa: F401
    from .social import models as _social  # noqa: F401
    from .admin import models as _admin  # noqa: F401
    from .waiting import models as _waiting  # noqa: F401


def _register_blueprints(app):
    """Each domain registers its blueprint and plug-ins, from the bottom layer up
    (plug-ins apply in this order: coupons before points)."""
    from . import (accounts, admin, cart, catalog, core, coupons, gifts, library, loyalty, notifications, orders,
                   reviews, social, waiting)

    for domain in (core, notifications, accounts, social, catalog, library, cart, orders, coupons, loyalty, gifts, waiting,
                   reviews, admin):
        domain.register(app)
    if app.config.get("DEV_INBOX"):
        from .dev.views import bp as dev_bp

        app.register_blueprint(dev_bp)


def _register_login(app):
    login_manager.login_view = "accounts.login"
    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please log in to continue.")
    login_manager.login_message_category = "info"

    @login_manager.unauthorized_handler
    def unauthorized():
        """Send visitors to log in and bring them back where they were. For a POST
        (e.g. "add to cart") "where they were" is the page they clicked on; htmx
        requests get an HX-Redirect so the whole page navigates."""
        from urllib.parse import urlsplit

        from flask import flash, make_response, redirect, url_for
        from flask_babel import gettext as _

        from .web.urls import safe_next

        if request.method == "GET" and not request.headers.get("HX-Request"):
            target = request.full_path.rstrip("?")
        else:
            came_from = urlsplit(request.headers.get("HX-Current-URL") or request.referrer or "/")
            same_site = not came_from.netloc or came_from.netloc == request.host
            target = (came_from.path + (f"?{came_from.query}" if came_from.query else "")) if same_site else "/"
        login_url = url_for("accounts.login", next=safe_next(target))
        flash(_("Please log in to continue."), "info")
        if request.headers.get("HX-Request"):
            response = make_response("", 200)
            response.headers["HX-Redirect"] = login_url
            return response
        return redirect(login_url)

    from .accounts.login import load_user

    login_manager.user_loader(load_user)  # the login's record and the user's session token


def _register_templates(app):
    from .web import i18n

    i18n.init_app(app)  # the locale, and the won/kst/ago/number filters

    @app.context_processor
    def inject_site():
        from .infra.storage import get_storage

        def media_url(key):
            return get_storage().url(key) if key else None

        def cart_count():
            from flask_login import current_user

            from .cart.services import cart_count as count

            return count(current_user.id) if current_user.is_authenticated else 0

        def unread_notifications():
            from flask_login import current_user

            from .notifications.services import unread_count

            return unread_count(current_user.id) if current_user.is_authenticated else 0

        def reviews_for(game, sort="helpful"):
            from .reviews.views import section_context

            return section_context(game, sort)

        return {"site_name": app.config["SITE_NAME"], "media_url": media_url, "reviews_for": reviews_for,
                "dev_inbox": app.config.get("DEV_INBOX", False), "cart_count": cart_count,
                "unread_notifications": unread_notifications}


def _register_cli(app):
    from .accounts.cli import users_cli
    from .dev.catalog_cli import catalog_cli
    from .dev.seed import seed_cli
    from .infra.mail_cli import mail_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(seed_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(catalog_cli)
    from .coupons.cli import coupons_cli

    app.cli.add_command(coupons_cli)
    from .core.jobs_admin import jobs_cli
    from .loyalty.cli import points_cli, vip_cli

    app.cli.add_command(jobs_cli)

    app.cli.add_command(vip_cli)
    app.cli.add_command(points_cli)


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if _is_sqlite(dbapi_connection):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin, so that
        # SAVEPOINTs and rollbacks behave as on PostgreSQL (SQLAlchemy's pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """BEGIN (deferred); BEGIN IMMEDIATE for a transaction that asked to write at once
    (`session.connection(execution_options={"sqlite_immediate": True})`): in WAL mode a
    deferred transaction whose snapshot went stale while it waited for the write lock
    fails at once with "database is locked", so a compare-and-set that races others
    takes the lock first and then reads."""
    if _is_sqlite(conn.connection.dbapi_connection):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "BEGIN")
