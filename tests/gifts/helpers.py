"""A giver who buys gifts through the pages, and snapshots of gifts."""
import re
from html import unescape
from types import SimpleNamespace

from sqlalchemy import select

from shop.extensions import db
from shop.gifts.models import Gift

LINK_RE = re.compile(r"https?://\S+/gifts/claim/(\S+)")


def send_gift(shopper, game_id: int, to: str, message: str = "Happy birthday!") -> str:
    """Fill the gift form and pay in the sandbox; returns the order's public id."""
    res = shopper.browser.post(f"/gifts/new/{game_id}", {"recipient": to, "message": message})
    assert res.status_code == 302 and "/sandbox/pay/" in res.headers["Location"], (res.status_code, res.headers)
    public_id = res.headers["Location"].rsplit("/", 1)[1]
    res = shopper.sandbox(public_id, "approve")
    res = shopper.browser.get(res.headers["Location"])
    assert res.status_code == 302 and res.headers["Location"] == f"/orders/{public_id}", res.headers.get("Location")
    return public_id


def gifts(app, **where) -> list:
    with app.app_context():
        query = select(Gift).order_by(Gift.id)
        for key, value in where.items():
            query = query.where(getattr(Gift, key) == value)
        return [SimpleNamespace(**{c.key: getattr(g, c.key) for c in Gift.__table__.columns})
                for g in db.session.scalars(query)]


def claim_token(outbox, to: str) -> str:
    """The token of the claim link in the newest gift email to `to`."""
    mails = [m for m in outbox.deliver() if to in m["to"]]
    assert mails, f"no mail to {to}"
    return LINK_RE.search(mails[-1]["text"]).group(1)


def text(res) -> str:
    return unescape(res.get_data(as_text=True))
