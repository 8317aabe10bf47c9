"""Coupons in the wallet and at checkout. Every status change is a conditional UPDATE
(never read-then-write), so one coupon can never serve two orders."""
from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import select, update

from ..web.numbers import MAX_ID, parse_int
from ..extensions import db
from ..orders import hooks
from ..cart.pricing import Discount
from ..timeutil import utcnow
from ..web.i18n import won
from .models import Coupon, CouponEvent


def wallet(user_id: int) -> dict[str, list[Coupon]]:
    rows = db.session.scalars(select(Coupon).where(Coupon.user_id == user_id).order_by(Coupon.expires_at)).all()
    now = utcnow()
    out = {"available": [], "used": [], "expired": []}
    for c in rows:
        if c.status in ("available", "reserved") and c.expires_at > now:
            out["available"].append(c)
        elif c.status == "used":
            out["used"].append(c)
        else:
            out["expired"].append(c)
    return out


def usable_coupons(user_id: int) -> list[Coupon]:
    return list(db.session.scalars(select(Coupon).where(
        Coupon.user_id == user_id, Coupon.status == "available", Coupon.expires_at > utcnow())
        .order_by(Coupon.expires_at)))


def eligible_amount(event: CouponEvent, quote) -> int:
    """The part of the order the coupon applies to (its scope: a tag or a publisher)."""
    from ..catalog.models import Game

    if not event.scope_tag_id and not event.scope_publisher_id:
        return quote.subtotal
    total = 0
    for line in quote.lines:
        game = db.session.get(Game, line.game_id)
        if event.scope_publisher_id and game.publisher_id != event.scope_publisher_id:
            continue
        if event.scope_tag_id and event.scope_tag_id not in {t.id for t in game.tags}:
            continue
        total += line.price
    return total


def discount_for(event: CouponEvent, quote) -> int:
    base = eligible_amount(event, quote)
    if base <= 0 or quote.subtotal < event.min_order_amount:
        return 0
    if event.discount_type == "fixed":
        amount = event.discount_value
    else:
        amount = base * event.discount_value // 100
        if event.discount_cap:
            amount = min(amount, event.discount_cap)
    return min(amount, base)


def coupon_discount(quote, user, options) -> Discount | None:
    """Discount provider for checkout: options["coupon"] names one of the user's coupons.
    Raises CheckoutError when the chosen coupon can't be used on this order: the buyer
    asked for it, so say why rather than quietly charge the full price."""
    from ..orders.services import CheckoutError

    coupon_id = str(options.get("coupon") or "")
    if not coupon_id or user is None:
        return None
    wanted = parse_int(coupon_id, 1, MAX_ID)
    coupon = db.session.get(Coupon, wanted) if wanted is not None else None
    if coupon is None or coupon.user_id != user.id or coupon.status != "available" or coupon.expires_at <= utcnow():
        raise CheckoutError(_("That coupon is no longer available."))
    event = coupon.event
    if quote.subtotal < event.min_order_amount:
        raise CheckoutError(_("That coupon needs an order of %(amount)s or more.", amount=won(event.min_order_amount)))
    amount = discount_for(event, quote)
    if amount <= 0:
        raise CheckoutError(_("That coupon doesn't apply to any game in your cart."))
    return Discount("coupon", _("Coupon: %(name)s", name=event.name), amount, ref=str(coupon.id), name=event.name)


def _coupon_ref(order) -> int | None:
    for d in order.discounts or []:
        if d.get("kind") == "coupon" and d.get("ref"):
            return int(d["ref"])
    return None


def reserve(order, quote):
    coupon_id = _coupon_ref(order)
    if coupon_id is None:
        return
    reserved = db.session.execute(update(Coupon).where(
        Coupon.id == coupon_id, Coupon.user_id == order.user_id, Coupon.status == "available",
        Coupon.expires_at > utcnow()).values(status="reserved", order_id=order.id)).rowcount
    if reserved != 1:
        from ..orders.services import CheckoutError

        raise CheckoutError(_("That coupon is no longer available."))


def use(order):
    db.session.execute(update(Coupon).where(Coupon.order_id == order.id, Coupon.status == "reserved")
                       .values(status="used", used_at=utcnow()))


def release(order_id: int):
    now = utcnow()
    db.session.execute(update(Coupon).where(Coupon.order_id == order_id, Coupon.status == "reserved",
                                            Coupon.expires_at > now).values(status="available", order_id=None))
    db.session.execute(update(Coupon).where(Coupon.order_id == order_id, Coupon.status == "reserved",
                                            Coupon.expires_at <= now).values(status="expired", order_id=None))


def refund(order):
    """A refund within the coupon's validity makes it usable again."""
    now = utcnow()
    db.session.execute(update(Coupon).where(Coupon.order_id == order.id, Coupon.status == "used",
                                            Coupon.expires_at > now)
                       .values(status="available", order_id=None, used_at=None))
    db.session.execute(update(Coupon).where(Coupon.order_id == order.id, Coupon.status == "used",
                                            Coupon.expires_at <= now).values(status="expired"))


def expire_coupons() -> int:
    """Daily: mark unused coupons past their validity."""
    changed = db.session.execute(update(Coupon).where(
        Coupon.status == "available", Coupon.expires_at <= utcnow()).values(status="expired")).rowcount
    db.session.commit()
    return changed


def checkout_panel(user, options: dict):
    """The coupon choice on the checkout page."""
    return render_template("coupons/_checkout.html", coupons=usable_coupons(user.id), options=options)


def register():
    """Plug coupons into checkout (called once from create_app)."""
    hooks.register("coupon", discount=coupon_discount, reserved=reserve, paid=use, released=release,
                   refunded=refund, panel=checkout_panel)
