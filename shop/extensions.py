"""Extension objects, created unbound at import time and bound in `create_app`."""
import redis
from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

from .infra import redisconn

# Named constraints so migrations behave the same on SQLite (batch mode) and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
limiter = Limiter(key_func=get_remote_address, strategy="moving-window")


class RedisClients:
    """Two clients on one URL: `store` decodes to str for our own keys; `raw`
    keeps bytes, which RQ requires."""

    def init_app(self, app):
        url = app.config["REDIS_URL"]
        opts = dict(socket_connect_timeout=2, socket_timeout=5, health_check_interval=30, socket_keepalive=True,
                    blocking=True, max_connections=int(app.config.get("REDIS_MAX_CONNECTIONS", 200)), pool_timeout=5)
        # A blocking pool: under gevent hundreds of greenlets may want a connection at
        # once; redis-py's default pool raises "Too many connections" past its limit, this
        # one makes them wait (up to 5 s) for one of max_connections per process.
        app.extensions["redis_store"] = redisconn.client(url, decode_responses=True, **opts)
        app.extensions["redis_raw"] = redisconn.client(url, **opts)

    @property
    def store(self) -> redis.Redis:
        return current_app.extensions["redis_store"]

    @property
    def raw(self) -> redis.Redis:
        return current_app.extensions["redis_raw"]


redis_clients = RedisClients()
