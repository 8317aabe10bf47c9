"""Behaviour helpers for cart and order tests: a shopper who adds, checks out and pays,
and read-only snapshots of what the database holds (taken in their own app context,
so no context stays open while the client makes requests)."""
import re
from html import unescape
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import func, select

from shop.extensions import db
from shop.orders.models import Order, PaymentEvent
from shop.library.models import LibraryEntry

from .browser import TOKEN_RE, Browser
from .catalog import make_game
from bench.harness import grant  # noqa: F401  (the tests take it from here)

ORDER_ID_RE = re.compile(r'"orderId": "([0-9a-f-]{36})"')


class ShopBrowser(Browser):
    """A Browser that reads the CSRF token once per session, as a page would, instead of
    loading the home page before every POST (it stays valid until login or logout)."""

    _token = None

    def csrf_token(self) -> str:
        if self._token is None:
            # from a light page (the cart, or the login form for visitors), not the home page
            page = self.client.get("/cart")
            if page.status_code != 200:
                page = self.client.get("/login")
            self._token = TOKEN_RE.search(page.get_data(as_text=True)).group(1)
        return self._token

    def login(self, *args, **kwargs):
        response = super().login(*args, **kwargs)
        self._token = None  # a fresh session on login
        return response

    def logout(self):
        response = super().logout()
        self._token = None
        return response


class Shopper:
    """A logged-in buyer driving the site through a test client, like a browser."""

    def __init__(self, app, user, browser: Browser | None = None, via_form: bool = False):
        self.app = app
        self.user = user
        self.browser = browser or ShopBrowser(app)
        if via_form:
            res = self.browser.login(user.email)
            assert res.status_code == 302, "login failed"
        else:
            session_login(app, self.browser, user.id)

    def add(self, game_id: int, htmx: bool = True, **kwargs):
        return self.browser.post(f"/cart/{game_id}", htmx=htmx, **kwargs)

    def remove(self, game_id: int, htmx: bool = True):
        return self.browser.post(f"/cart/{game_id}/remove", htmx=htmx)

    def checkout(self) -> str:
        """Press Pay on the checkout page; returns the new order's public id."""
        res = self.browser.post("/checkout")
        if res.status_code == 302 and "/sandbox/pay/" in res.headers["Location"]:
            return res.headers["Location"].rsplit("/", 1)[1]
        assert res.status_code == 200, (res.status_code, res.headers.get("Location"))
        match = ORDER_ID_RE.search(res.get_data(as_text=True))  # the Toss payment window page
        assert match, "no orderId on the payment page"
        return match.group(1)

    def sandbox(self, public_id: str, action: str):
        """Press a button in the sandbox payment window; returns the redirect."""
        return self.browser.post(f"/sandbox/pay/{public_id}", {"action": action})

    def return_from_toss(self, payment_key: str, order_id: str, amount: int):
        """Toss's success redirect: GET successUrl?paymentKey&orderId&amount."""
        return self.browser.get(success_url(payment_key, order_id, amount))

    def buy(self, *game_ids: int) -> str:
        """Cart, checkout and approve in the sandbox; returns the PAID order's public id."""
        for game_id in game_ids:
            assert self.add(game_id).status_code == 200
        public_id = self.checkout()
        res = self.sandbox(public_id, "approve")
        assert res.status_code == 302 and "paymentKey=" in res.headers["Location"], res.headers.get("Location")
        res = self.browser.get(res.headers["Location"])
        assert res.status_code == 302 and res.headers["Location"] == f"/orders/{public_id}"
        return public_id

    def flashes(self) -> str:
        """The next page's flash messages (consumes them)."""
        html = self.browser.get("/cart").get_data(as_text=True)
        return " | ".join(unescape(m) for m in re.findall(r'<div class="flash flash-\w+" role="\w+">(.*?)</div>', html))


def session_login(app, browser: Browser, user_id: int):
    """Log in by putting the user in the session, as Flask-Login does after the login
    form. The form itself is tested in tests/accounts; verifying an argon2 hash at full
    strength for every shopper would cost half a second each."""
    from ..support.browser import login_id

    token = login_id(app, user_id)
    with browser.client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True


def paid_order(app, user_id: int, game_id: int) -> str:
    """A sandbox order paid for `game_id`, straight into the database (as if bought a moment
    ago): for tests about what comes after, without clicking through the purchase."""
    import secrets

    from sqlalchemy import update

    from shop.catalog.models import Game
    from shop.orders.models import OrderLine, SandboxPayment
    from shop.timeutil import utcnow

    with app.app_context():
        game = db.session.get(Game, game_id)
        key = f"sandbox_{secrets.token_urlsafe(12)}"
        order = Order(user_id=user_id, status="PAID", subtotal=game.price, total=game.price, gateway="sandbox",
                      payment_key=key, expires_at=utcnow(), paid_at=utcnow(),
                      lines=[OrderLine(game_id=game_id, title=game.title, list_price=game.price, price=game.price)])
        db.session.add(order)
        db.session.flush()
        db.session.add(SandboxPayment(payment_key=key, order_public_id=order.public_id, amount=order.total,
                                      status="DONE", confirm_key=f"confirm-{order.public_id}"))
        db.session.add(LibraryEntry(user_id=user_id, game_id=game_id, order_id=order.id))
        db.session.execute(update(Game).where(Game.id == game_id).values(sales_count=Game.sales_count + 1))
        db.session.commit()
        return order.public_id


def set_order(app, public_id: str, **values):
    """Change an order's columns directly (freeze time, fake a stuck state)."""
    from sqlalchemy import update

    with app.app_context():
        db.session.execute(update(Order).where(Order.public_id == public_id).values(**values))
        db.session.commit()


def success_url(payment_key: str, order_id: str, amount: int) -> str:
    return "/checkout/success?" + urlencode({"paymentKey": payment_key, "orderId": order_id, "amount": amount})


def query_of(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def new_game(app, title="Celeste", price=22000, **kw) -> int:
    with app.app_context():
        return make_game(title, price=price, **kw)


def order_snapshot(app, public_id: str | None = None, user_id: int | None = None):
    """The order (by public id, or the user's newest) as plain data, lines included."""
    with app.app_context():
        query = select(Order)
        if public_id:
            query = query.where(Order.public_id == public_id)
        if user_id:
            query = query.where(Order.user_id == user_id)
        order = db.session.scalars(query.order_by(Order.id.desc())).first()
        if order is None:
            return None
        columns = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
        columns["lines"] = [SimpleNamespace(game_id=l.game_id, title=l.title, list_price=l.list_price,
                                            price=l.price) for l in order.lines]
        return SimpleNamespace(**columns)


def orders_of(app, user_id: int) -> list:
    with app.app_context():
        return [(o.public_id, o.status) for o in db.session.scalars(
            select(Order).where(Order.user_id == user_id).order_by(Order.id))]


def library_of(app, user_id: int, include_revoked: bool = False) -> list[int]:
    with app.app_context():
        query = select(LibraryEntry.game_id).where(LibraryEntry.user_id == user_id)
        if not include_revoked:
            query = query.where(LibraryEntry.revoked_at.is_(None))
        return sorted(db.session.scalars(query))


def payment_events(app, public_id: str) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        return [(e.kind, e.outcome, e.code) for e in db.session.scalars(
            select(PaymentEvent).join(Order, Order.id == PaymentEvent.order_id)
            .where(Order.public_id == public_id).order_by(PaymentEvent.id))]


def scalar(app, statement):
    with app.app_context():
        return db.session.scalar(statement)


def count(app, model, *where) -> int:
    return scalar(app, select(func.count()).select_from(model).where(*where))
