"""Fresh bench databases (PostgreSQL or SQLite) migrated with the real migrations, and
users bulk-inserted with session cookies minted by the app's own serializers (no
logins: argon2 would dominate any figure)."""
import secrets
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def plain_dsn(url: str) -> str:
    """A SQLAlchemy URL as psycopg wants it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def server_of(url: str) -> str:
    """postgresql+psycopg://…/name -> postgresql+psycopg://… (the server, no database)."""
    return url.rstrip("/").rsplit("/", 1)[0] if url.count("/") > 2 else url.rstrip("/")


def _admin(server: str):
    import psycopg

    return psycopg.connect(plain_dsn(server.rstrip("/")) + "/postgres", autocommit=True, connect_timeout=5)


def fresh_database(server: str, name: str, keep_existing: bool = False) -> str:
    """Drop and create database `name` on `server` (only create it if missing when
    `keep_existing`); its SQLAlchemy URL."""
    with _admin(server) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not keep_existing:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not exists or not keep_existing:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rstrip('/')}/{name}"


def drop_database(server: str, name: str):
    with _admin(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(env: dict, timeout: float = 300):
    """`flask --app wsgi db upgrade` with `env` (its DATABASE_URL is the target)."""
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def bulk_users(app, count: int, id_base: int, prefix: str, user_agent: str, csrf: bool = False) -> list:
    """`count` verified customers with ids from `id_base`, inserted with one SQL INSERT,
    each with a Flask session cookie the app accepts from 127.0.0.1 with `user_agent`
    (Flask-Login's session protection hashes both). With `csrf`, the session also holds
    a CSRF secret and `.csrf` is the matching X-CSRFToken (what generate_csrf returns).
    Returns namespaces (id, cookie, csrf)."""
    from itsdangerous import URLSafeTimedSerializer
    from sqlalchemy import insert

    from shop.accounts import sessions
    from shop.accounts.models import User
    from shop.extensions import db, login_manager
    from shop.timeutil import utcnow

    now = utcnow()
    tokens = {id_base + i: secrets.token_urlsafe(24) for i in range(count)}
    rows = [{"id": uid, "email": f"{prefix}{uid}@bench.invalid", "nickname": f"{prefix}{uid}",
             "password_hash": None, "role": "customer", "status": "active", "email_verified_at": now,
             "session_token": token, "created_at": now} for uid, token in tokens.items()]
    signer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token")
    users = []
    with app.app_context():
        db.session.execute(insert(User.__table__), rows)
        db.session.commit()
        with app.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                      headers={"User-Agent": user_agent}):
            ident = login_manager._session_identifier_generator()
        serializer = app.session_interface.get_signing_serializer(app)
        for uid, token in tokens.items():
            # Each cookie points at a login record, as the login form makes (a cookie
            # without one logs nobody in).
            sid = sessions.start(SimpleNamespace(id=uid, session_token=token), user_agent=user_agent,
                                 remote_addr="127.0.0.1")
            session = {"_user_id": f"{uid}:{token}:{sid}", "_fresh": True, "_id": ident}
            header = None
            if csrf:
                session["csrf_token"] = raw = secrets.token_hex(20)
                header = signer.dumps(raw)
            users.append(SimpleNamespace(id=uid, cookie=serializer.dumps(session), csrf=header))
    return users
