"""Configuration, read from the environment (and an optional `.env`).

One base class and small overrides. `APP_ENV` picks the class: `production` (the
default, so a forgotten variable never ships a development server), `development`
(what `make run` uses) or `testing`.
"""
import math
import os
from pathlib import Path

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent
# Where the SQLite file, uploads, dev mail and the embedded Redis live (INSTANCE_DIR moves
# all of them at once: the delivered-stack tests start `make run`'s launcher in a temp one).
INSTANCE = Path(os.environ.get("INSTANCE_DIR") or ROOT / "instance").resolve()
DEFAULT_SECRET_KEY = "dev-secret-key-change-me"
RUN_ENV = "run.env"  # what a running `make run` tells `flask` commands (see running_stack)


def running_stack(instance: Path = INSTANCE) -> dict[str, str]:
    """The settings a live `make run` wrote to `<instance>/run.env` (its embedded Redis's
    socket, its SMTP sink), so `flask ...` commands reach the same servers; empty when
    no launcher that wrote it is alive."""
    from dotenv import dotenv_values

    values = dotenv_values(instance / RUN_ENV)
    pid = values.get("PLAYCATION_RUN_PID") or ""
    if not pid.isascii() or not pid.isdigit() or int(pid) <= 1:
        return {}
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError):
        return {}
    return {k: v for k, v in values.items() if v is not None}


load_dotenv(ROOT / ".env")
load_dotenv(INSTANCE / ".env")  # APP_ENV and a generated SECRET_KEY, written by `make run` on first start
for _name, _value in running_stack().items():
    os.environ.setdefault(_name, _value)


def env(name, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_int(name, default):
    return int(env(name, default))


def env_bool(name, default=False):
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def default_web_concurrency() -> int:
    """gunicorn.conf.py's default worker count: two gevent processes per core, at most 8."""
    return min(8, 2 * (os.cpu_count() or 1))


def connection_budget(database_url: str, environ=None) -> dict:
    """SQLAlchemy engine options that keep every process of a deployment within the
    database's connection limit together.

    The limit (`DB_MAX_CONNECTIONS`, PostgreSQL's `max_connections`, default 100) less a
    reserve for migrations, psql and monitoring (`DB_RESERVED_CONNECTIONS`, 10) is
    divided among every process that opens a pool: `WEB_NODES` x `WEB_CONCURRENCY`
    gunicorn workers plus `WORKER_PROCESSES` background processes (RQ workers, the
    scheduler, coupon consumers; default 4). Each process gets that many connections and
    no overflow, so the sum can never pass the limit; a request that finds its pool
    empty waits `DB_POOL_TIMEOUT` seconds (3) and then gets the 503 page instead of
    queueing without bound. SQLite keeps SQLAlchemy's defaults (no server limit).

    Raises RuntimeError when the limit leaves less than one connection per process:
    that deployment needs PgBouncer (docs/operations.md).
    """
    environ = os.environ if environ is None else environ

    def number(name, default):
        raw = environ.get(name)
        try:
            return int(raw) if raw not in (None, "") else default
        except ValueError:
            raise RuntimeError(f"{name} must be a number, not {raw!r}") from None

    options = {"pool_pre_ping": False}  # infra/dbpool.py pings a connection that sat idle
    if not database_url.startswith("postgresql"):
        return options
    limit = number("DB_MAX_CONNECTIONS", 100)
    reserved = number("DB_RESERVED_CONNECTIONS", 10)
    processes = (number("WEB_NODES", 1) * number("WEB_CONCURRENCY", default_web_concurrency())
                 + number("WORKER_PROCESSES", 4))
    per_process = math.floor((limit - reserved) / max(processes, 1))
    if per_process < 1:
        raise RuntimeError(
            f"DB_MAX_CONNECTIONS={limit} minus {reserved} reserved leaves less than one connection for each "
            f"of {processes} processes; lower WEB_CONCURRENCY or put PgBouncer in front (docs/operations.md)")
    # Whole seconds: Flask-SQLAlchemy passes the options through SQLAlchemy's config
    # coercion, which makes pool_timeout an int.
    # Connections stay open between requests (pool_size, no overflow) and are replaced
    # after DB_POOL_RECYCLE seconds (30 minutes), before a proxy or the server's idle
    # timeout cuts them; one idle for more than a moment is pinged at checkout
    # (infra/dbpool.py) and replaced when the server closed it anyway.
    options.update(pool_size=per_process, max_overflow=0, pool_timeout=number("DB_POOL_TIMEOUT", 3),
                   pool_recycle=number("DB_POOL_RECYCLE", 1800))
    return options


class Config:
    ENV_NAME = "production"
    SECRET_KEY = env("SECRET_KEY", DEFAULT_SECRET_KEY)
    SITE_NAME = "Playcation"
    DISPLAY_TIMEZONE = "Asia/Seoul"

    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL", f"sqlite:///{INSTANCE / 'playcation.db'}")
    SQLALCHEMY_ENGINE_OPTIONS = connection_budget(SQLALCHEMY_DATABASE_URI)  # pool per process
    REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
    REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 200)  # per process; callers wait beyond it
    REDIS_POOL_TIMEOUT = env_int("REDIS_POOL_TIMEOUT", 10)  # seconds a caller waits for a free one (PoolBusy)
    # Waiting rooms (shop/waiting): whether each web process runs the admission loop too
    # (false where `worker.py --admissions` runs), the loops' period, and how long a
    # process trusts its snapshot of the enabled rooms.
    WAITING_ADMISSION_LOOP = env_bool("WAITING_ADMISSION_LOOP", True)
    WAITING_ADVANCE_SECONDS = float(env("WAITING_ADVANCE_SECONDS", 1))
    WAITING_ROOM_CACHE_SECONDS = float(env("WAITING_ROOM_CACHE_SECONDS", 2))
    RQ_QUEUE = env("RQ_QUEUE", "default")
    # Korean first (shop/web/i18n.py); compiled by `make` from translations/ko/LC_MESSAGES/messages.po
    BABEL_DEFAULT_LOCALE = "ko"
    BABEL_DEFAULT_TIMEZONE = "Asia/Seoul"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "translations")
    SCHEDULER_INTERVAL = env_int("SCHEDULER_INTERVAL", 30)  # seconds between rq-scheduler's passes

    # Sessions and cookies
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"  # like the session cookie: not sent on cross-site POSTs
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 30
    WTF_CSRF_TIME_LIMIT = None  # token lives as long as the session
    TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)  # reverse proxies in front (X-Forwarded-For)
    # GET /metrics (shop/infra/metrics.py): answered for these networks or the bearer token, else 404
    METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
    METRICS_ALLOW = env("METRICS_ALLOW", "127.0.0.1/32")
    METRICS_TOKEN = env("METRICS_TOKEN")
    MAX_CONTENT_LENGTH = 12 * 1024 * 1024  # whole request; per-file limits are stricter
    # Product keys are encrypted with this Fernet key (urlsafe base64 of 32 bytes); unset,
    # one is derived from SECRET_KEY with HKDF (docs/keys.md). Changing either makes
    # stored keys unreadable.
    KEYS_ENCRYPTION_KEY = env("KEYS_ENCRYPTION_KEY")

    # Accounts
    VERIFY_CODE_TTL = 300
    VERIFY_CODE_MAX_TRIES = 5
    VERIFY_RESEND_COOLDOWN = 60
    PASSWORD_RESET_MAX_AGE = 3600
    WITHDRAWAL_GRACE_DAYS = 30
    UNVERIFIED_KEEP_DAYS = env_int("UNVERIFIED_KEEP_DAYS", 7)  # then a never-verified account is removed
    AVATAR_MAX_BYTES = 5 * 1024 * 1024
    AVATAR_SIZE = 256

    # Notifications: read ones older than this are deleted (unread ones are kept)
    NOTIFICATION_KEEP_DAYS = env_int("NOTIFICATION_KEEP_DAYS", 90)

    # Rate limits (Flask-Limiter, stored in Redis)
    RATELIMIT_STORAGE_URI = None  # filled from REDIS_URL in create_app
    RATELIMIT_KEY_PREFIX = "rl"
    RATELIMIT_HEADERS_ENABLED = True
    LOG_FORMAT = env("LOG_FORMAT", "json")  # json lines (one per request and record) | text
    RATELIMIT_LOGIN = env("RATELIMIT_LOGIN", "10 per minute;50 per hour")
    RATELIMIT_SIGNUP = env("RATELIMIT_SIGNUP", "5 per hour")
    RATELIMIT_VERIFY = env("RATELIMIT_VERIFY", "10 per minute")
    RATELIMIT_RESET = env("RATELIMIT_RESET", "5 per hour")

    # Mail
    MAIL_SERVER = env("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = env_int("MAIL_PORT", 8025)
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS")
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL")
    MAIL_USERNAME = env("MAIL_USERNAME")
    MAIL_PASSWORD = env("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = env("MAIL_DEFAULT_SENDER", "Playcation <no-reply@playcation.example>")
    MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 10)
    MAIL_RETRY_INTERVALS = [10, 30, 120, 600]
    DEV_INBOX = False
    DEV_INBOX_DIR = env("DEV_INBOX_DIR", str(INSTANCE / "devmail"))

    # Files
    S3_BUCKET = env("S3_BUCKET")
    S3_ENDPOINT_URL = env("S3_ENDPOINT_URL")
    S3_REGION = env("S3_REGION", "ap-northeast-2")
    S3_PUBLIC_URL = env("S3_PUBLIC_URL")
    UPLOAD_DIR = env("UPLOAD_DIR", str(INSTANCE / "uploads"))
    # Game builds (shop/library/builds.py, docs/builds.md)
    BUILD_DIR = env("BUILD_DIR", str(INSTANCE / "builds"))  # local storage of builds (never served by /media)
    BUILD_MAX_BYTES = env_int("BUILD_MAX_BYTES", 4 * 1024 ** 3)
    BUILD_CHUNK_BYTES = 8 * 1024 * 1024  # one PUT (local) or one multipart part (S3); under MAX_CONTENT_LENGTH
    BUILD_PART_URL_SECONDS = 3600        # a presigned upload_part URL
    DOWNLOAD_URL_SECONDS = env_int("DOWNLOAD_URL_SECONDS", 6 * 3600)   # the local signed URL (ownership is re-checked on each request)
    DOWNLOAD_S3_URL_SECONDS = env_int("DOWNLOAD_S3_URL_SECONDS", 300)  # a presigned GET
    RATELIMIT_DOWNLOAD = env("RATELIMIT_DOWNLOAD", "20 per hour")

    # Payments (used by the checkout issue)
    PAYMENT_GATEWAY = env("PAYMENT_GATEWAY", "sandbox")
    TOSS_CLIENT_KEY = env("TOSS_CLIENT_KEY")
    TOSS_SECRET_KEY = env("TOSS_SECRET_KEY")
    TOSS_API_BASE = env("TOSS_API_BASE", "https://api.tosspayments.com")
    TOSS_TIMEOUT = float(env("TOSS_TIMEOUT", 10))  # seconds to wait for confirm/cancel
    ORDER_EXPIRY_MINUTES = env_int("ORDER_EXPIRY_MINUTES", 30)
    REFUND_WINDOW_DAYS = env_int("REFUND_WINDOW_DAYS", 14)
    REFUND_MAX_DOWNLOADS = env_int("REFUND_MAX_DOWNLOADS", 2)  # a copy downloaded more often can't be refunded

    # Identity verification for adult-only games (accounts/identity.py): "sandbox" is a
    # local page; production plugs in a real provider (PASS, NICE) by name.
    IDENTITY_PROVIDER = env("IDENTITY_PROVIDER", "sandbox")

    # VIP grades and points (KRW thresholds on last month's paid total; 1 point = ₩1)
    VIP_THRESHOLDS = {"SILVER": 50_000, "GOLD": 150_000, "VIP": 300_000}
    VIP_MONTHLY_BONUS = {"BRONZE": 0, "SILVER": 1_000, "GOLD": 3_000, "VIP": 10_000}
    VIP_CASHBACK_PERCENT = {"BRONZE": 0, "SILVER": 1, "GOLD": 2, "VIP": 3}
    POINTS_MAX_SHARE_PERCENT = env_int("POINTS_MAX_SHARE_PERCENT", 50)  # of an order payable with points
    POINTS_VALID_MONTHS = env_int("POINTS_VALID_MONTHS", 12)

    # Coupon drops
    COUPON_USER_PER_SECOND = env_int("COUPON_USER_PER_SECOND", 5)   # claim attempts per user per event
    COUPON_IP_PER_SECOND = env_int("COUPON_IP_PER_SECOND", 200)     # per client IP per event
    COUPON_SOLD_OUT_CACHE_SECONDS = float(env("COUPON_SOLD_OUT_CACHE_SECONDS", 2))
    COUPON_FAST_LANE = env_bool("COUPON_FAST_LANE", True)  # coupons/fastlane.py answers common claims
    # Refuse to open a drop unless the coupon Redis is durable (coupons/durability.py). Off only
    # where claims may be lost: the tests' throwaway Redis, or a host whose CONFIG is disabled
    # and whose settings were checked by hand.
    COUPON_REQUIRE_DURABLE_REDIS = env_bool("COUPON_REQUIRE_DURABLE_REDIS", True)

    # Social login (used by the OAuth issue)
    GOOGLE_CLIENT_ID = env("GOOGLE_CLIENT_ID")
    GOOGLE_CLIENT_SECRET = env("GOOGLE_CLIENT_SECRET")
    GITHUB_CLIENT_ID = env("GITHUB_CLIENT_ID")
    GITHUB_CLIENT_SECRET = env("GITHUB_CLIENT_SECRET")
    KAKAO_CLIENT_ID = env("KAKAO_CLIENT_ID")
    KAKAO_CLIENT_SECRET = env("KAKAO_CLIENT_SECRET")
    NAVER_CLIENT_ID = env("NAVER_CLIENT_ID")
    NAVER_CLIENT_SECRET = env("NAVER_CLIENT_SECRET")
    SOCIAL_HTTP_TIMEOUT = float(env("SOCIAL_HTTP_TIMEOUT", 10))  # seconds for each call to a provider
    SOCIAL_STATE_TTL = env_int("SOCIAL_STATE_TTL", 600)  # seconds a login may spend at the provider
    # Endpoint overrides (a staging identity provider, the tests' local one); unset = the real ones.
    GOOGLE_DISCOVERY_URL = env("GOOGLE_DISCOVERY_URL")
    GITHUB_AUTHORIZE_URL = env("GITHUB_AUTHORIZE_URL")
    GITHUB_TOKEN_URL = env("GITHUB_TOKEN_URL")
    GITHUB_USERINFO_URL = env("GITHUB_USERINFO_URL")
    GITHUB_EMAILS_URL = env("GITHUB_EMAILS_URL")
    KAKAO_AUTHORIZE_URL = env("KAKAO_AUTHORIZE_URL")
    KAKAO_TOKEN_URL = env("KAKAO_TOKEN_URL")
    KAKAO_USERINFO_URL = env("KAKAO_USERINFO_URL")
    NAVER_AUTHORIZE_URL = env("NAVER_AUTHORIZE_URL")
    NAVER_TOKEN_URL = env("NAVER_TOKEN_URL")
    NAVER_USERINFO_URL = env("NAVER_USERINFO_URL")


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    LOG_FORMAT = env("LOG_FORMAT", "text")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    DEV_INBOX = True


class TestingConfig(DevelopmentConfig):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key"
    MAIL_SUPPRESS_SEND = False  # mail goes to the test's real SMTP sink
    SQLALCHEMY_ENGINE_OPTIONS = {}
    RATELIMIT_KEY_PREFIX = "test-rl"
    COUPON_REQUIRE_DURABLE_REDIS = False  # the test Redis has no AOF; tests/coupons/test_durability.py turns it on


class ProductionConfig(Config):
    ENV_NAME = "production"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env():
    name = env("APP_ENV", "production")
    if name not in CONFIGS:
        raise RuntimeError(f"APP_ENV must be one of {sorted(CONFIGS)}, not {name!r}")
    return CONFIGS[name]
