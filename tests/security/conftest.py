"""Hostile-traffic fixtures: a small world of objects owned by user A, actors that are
logged in by session (no argon2 per request), snapshots that prove nothing changed,
and a <form> parser for the payload corpus."""
import hashlib
import io
import itertools
import os
import secrets
from datetime import timedelta
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import urljoin, urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from PIL import Image
from sqlalchemy import select

from shop.extensions import db

from ..support.accounts import make_user

_addresses = itertools.count(1)


def fresh_address() -> str:
    """A distinct client address for the WSGI environ (never a network target): the
    per-IP rate limits then count each fuzz request on its own."""
    n = next(_addresses)
    return f"198.18.{n // 250 % 250}.{n % 250 + 1}"


def png_bytes(size=(8, 8), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


# --- actors -----------------------------------------------------------------------------

class Actor:
    """A test client that is (or is not) a logged-in user and knows its CSRF token."""

    def __init__(self, app, user=None, name="anonymous"):
        self.app = app
        self.user = user
        self.name = name
        self.client = app.test_client()
        self.raw_token = hashlib.sha1(os.urandom(64)).hexdigest()
        secret = app.config.get("WTF_CSRF_SECRET_KEY", app.secret_key)
        self.token = URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(self.raw_token)
        self.restore()

    def restore(self):
        """(Re)write the session: the user (as Flask-Login stores it) and the CSRF secret.
        Cheap, so fuzzing can undo a logout or a password change after every request."""
        user_id = None
        if self.user is not None:
            from ..support.browser import login_id

            user_id = login_id(self.app, self.user.id)
        with self.client.session_transaction() as session:
            session.clear()
            session["csrf_token"] = self.raw_token
            if user_id:
                session["_user_id"] = user_id
                session["_fresh"] = True

    def get(self, url, **kw):
        kw.setdefault("environ_base", {"REMOTE_ADDR": fresh_address()})
        return self.client.get(url, **kw)

    def request(self, method, url, data=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf and method != "GET":
            data.setdefault("csrf_token", self.token)
        kw.setdefault("environ_base", {"REMOTE_ADDR": fresh_address()})
        if method == "GET":
            return self.client.get(url, query_string=data, **kw)
        return self.client.open(url, method=method, data=data, **kw)

    def post(self, url, data=None, csrf=True, **kw):
        return self.request("POST", url, data, csrf=csrf, **kw)


# --- the world: one object of each kind, owned by user A --------------------------------

def build_world(app) -> SimpleNamespace:
    from shop.accounts import sessions as login_sessions
    from shop.accounts.models import User
    from shop.cart.services import add_to_cart
    from shop.catalog import admin_services, services as catalog
    from shop.catalog import wishlist
    from shop.catalog.models import Game
    from shop.coupons import services as coupons
    from shop.notifications.services import notify
    from shop.orders.models import Order, OrderLine, SandboxPayment
    from shop.library.models import LibraryEntry
    from shop.reviews import services as reviews
    from shop.timeutil import utcnow

    w = SimpleNamespace()
    with app.app_context():
        for name, role in (("admin", "admin"), ("customer_a", "customer"), ("customer_b", "customer"),
                           ("publisher_a", "publisher"), ("publisher_b", "publisher")):
            setattr(w, name, make_user(role=role, nickname=name.replace("_", "-")))
        pub_a, pub_b = db.session.get(User, w.publisher_a.id), db.session.get(User, w.publisher_b.id)
        cust_a = db.session.get(User, w.customer_a.id)
        w.login_a = login_sessions.start(cust_a, user_agent="customer A's phone")  # a login of A's
        game_a = catalog.create_game(pub_a, catalog.GameInput(title="Alpha Quest", price=20000))
        game_b = catalog.create_game(pub_b, catalog.GameInput(title="Beta Rally", price=15000))
        game_c = catalog.create_game(pub_b, catalog.GameInput(title="Gamma Drift", price=9000))
        shot_a = catalog.add_screenshot(pub_a, game_a, io.BytesIO(png_bytes((64, 36))))
        shot_b = catalog.add_screenshot(pub_b, game_b, io.BytesIO(png_bytes((64, 36))))
        w.game_a, w.game_a_slug, w.game_b, w.game_b_slug = game_a.id, game_a.slug, game_b.id, game_b.slug
        w.game_c = game_c.id
        w.shot_a, w.shot_b = shot_a.id, shot_b.id

        # customer A bought game A (a paid sandbox order) and has a pending one for game B
        key = f"sandbox_{secrets.token_urlsafe(12)}"
        paid = Order(user_id=cust_a.id, status="PAID", subtotal=20000, total=20000, gateway="sandbox",
                     payment_key=key, expires_at=utcnow(), paid_at=utcnow(),
                     lines=[OrderLine(game_id=game_a.id, title=game_a.title, list_price=20000, price=20000)])
        pending = Order(user_id=cust_a.id, status="PENDING", subtotal=15000, total=15000, gateway="sandbox",
                        expires_at=utcnow() + timedelta(minutes=30),
                        lines=[OrderLine(game_id=game_b.id, title=game_b.title, list_price=15000, price=15000)])
        db.session.add_all([paid, pending])
        db.session.flush()
        db.session.add(SandboxPayment(payment_key=key, order_public_id=paid.public_id, amount=20000,
                                      status="DONE", confirm_key=f"confirm-{paid.public_id}"))
        db.session.add(LibraryEntry(user_id=cust_a.id, game_id=game_a.id, order_id=paid.id))
        db.session.commit()
        w.order_paid, w.order_pending = paid.public_id, pending.public_id
        w.order_paid_line = paid.lines[0].id

        # Customer A's unclaimed gift of game B (its own paid order, as a gift checkout makes).
        from shop.gifts.models import Gift

        gift_key = f"sandbox_{secrets.token_urlsafe(12)}"
        gift_order = Order(user_id=cust_a.id, status="PAID", subtotal=15000, total=15000, gateway="sandbox",
                           payment_key=gift_key, expires_at=utcnow(), paid_at=utcnow(),
                           lines=[OrderLine(game_id=game_b.id, title=game_b.title, list_price=15000, price=15000,
                                            gift_to="friend.of.a@example.com")])
        db.session.add(gift_order)
        db.session.flush()
        db.session.add(SandboxPayment(payment_key=gift_key, order_public_id=gift_order.public_id, amount=15000,
                                      status="DONE", confirm_key=f"confirm-{gift_order.public_id}"))
        gift = Gift(order_id=gift_order.id, order_line_id=gift_order.lines[0].id, giver_id=cust_a.id,
                    game_id=game_b.id, recipient_email="friend.of.a@example.com")
        db.session.add(gift)
        db.session.commit()
        w.gift_a = gift.public_id

        review = reviews.post_review(cust_a, db.session.get(Game, game_a.id), 4, "Fun little game, good pace.")
        w.review_a = review.id
        w.notification_a = notify(cust_a.id, "order_paid", {"title": "Shipped", "more": 0, "total": 1000}, "/library").id
        from shop.library.build_models import Build

        build = Build(game_id=game_a.id, uploader_id=pub_a.id, platform="windows", version="1.0", notes="",
                      filename="alpha.exe", size=10, received=10, claimed_sha256="0" * 64, sha256="0" * 64,
                      storage_key="builds/a/alpha.exe", status="published", published_at=utcnow())
        db.session.add(build)
        db.session.commit()
        w.build_a = build.id
        add_to_cart(cust_a, db.session.get(Game, game_c.id))
        wishlist.set_wishlisted(cust_a, db.session.get(Game, game_c.id), True)
        now = utcnow()
        w.event = coupons.create_event(coupons.EventInput(
            name="Spring drop", discount_type="fixed", discount_value=3000, quantity=10,
            opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=1), valid_days=7)).id
        w.category = admin_services.create_category("Roguelikes").id
        w.tag = admin_services.create_tag("Pixel art").id
    return w


@pytest.fixture
def world(app):
    return build_world(app)


@pytest.fixture
def actors(app, world):
    """name -> Actor; "anonymous" has a session with a CSRF secret but no user."""
    names = ("admin", "customer_a", "customer_b", "publisher_a", "publisher_b")
    out = {name: Actor(app, getattr(world, name), name) for name in names}
    out["anonymous"] = Actor(app)
    return out


# --- proof that nothing changed ---------------------------------------------------------

def db_snapshot(app) -> dict:
    """Every row of every table (the test world is small)."""
    with app.app_context():
        out = {}
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
        db.session.remove()
        return out


def snapshot_diff(before: dict, after: dict) -> list[str]:
    changed = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, []), after.get(name, [])
        if b != a:
            gone = [r for r in b if r not in a][:2]
            new = [r for r in a if r not in b][:2]
            changed.append(f"{name}: -{gone} +{new}")
    return changed


def redis_keys(redis) -> set[str]:
    """Our own keys (rate-limit counters and the auth cache come and go with any request)."""
    return {k for k in redis.keys("*") if not k.startswith(("test-rl", "LIMITS", "auth:user:"))}


# --- forms --------------------------------------------------------------------------------

class FormParser(HTMLParser):
    """<form> elements with their fields: (name, kind, value, options)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._form, self._select, self._textarea = [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action") or a.get("hx-post") or a.get("hx-get") or "",
                          "method": (a.get("method") or ("post" if a.get("hx-post") else "get")).upper(),
                          "enctype": a.get("enctype", ""), "fields": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                self._form["fields"].append({"name": a["name"], "kind": kind, "value": None,
                                             "options": [a.get("value", "on")]})
                return
            self._form["fields"].append({"name": a["name"], "kind": kind, "value": a.get("value", "on" if kind in (
                "checkbox", "radio") else ""), "options": []})
        elif tag == "textarea" and a.get("name"):
            self._textarea = {"name": a["name"], "kind": "textarea", "value": "", "options": []}
            self._form["fields"].append(self._textarea)
        elif tag == "select" and a.get("name"):
            self._select = {"name": a["name"], "kind": "select", "value": None, "options": []}
            self._form["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))
            if "selected" in a or self._select["value"] is None:
                self._select["value"] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            self._form["fields"].append({"name": a["name"], "kind": "button", "value": a.get("value", ""),
                                         "options": []})

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_forms(html: str, page_url: str) -> list[dict]:
    parser = FormParser()
    parser.feed(html)
    forms = []
    for form in parser.forms:
        action = urljoin(page_url, form["action"] or page_url)
        parts = urlsplit(action)
        if parts.netloc and parts.netloc != "localhost":
            continue  # not ours
        form["action"] = parts.path + (f"?{parts.query}" if parts.query else "")
        forms.append(form)
    return forms
