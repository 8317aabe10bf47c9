"""Order totals: line prices resolved on the server, then discounts.

Discounts plug in as providers (coupons and points register theirs in their own
issues): each gets the quote so far and returns a `Discount` or None. Providers run
in order and can never take the total below zero.
"""
from dataclasses import asdict, dataclass, field

from flask_babel import gettext as _

from ..timeutil import utcnow
from ..web.i18n import number


@dataclass
class Line:
    game_id: int
    title: str
    list_price: int
    price: int


@dataclass
class Discount:
    kind: str      # "coupon" | "points" | ...
    label: str     # in the buyer's language at checkout; pages show discount_label()
    amount: int
    ref: str | None = None
    name: str | None = None  # what the label names (a coupon's event), to say it again in another language

    def stored(self) -> dict:
        """The order's JSON line: kind, label, amount, ref (and name when there is one)."""
        line = asdict(self)
        if line["name"] is None:
            del line["name"]
        return line


@dataclass
class Quote:
    lines: list[Line]
    discounts: list[Discount] = field(default_factory=list)

    @property
    def subtotal(self) -> int:
        return sum(line.price for line in self.lines)

    @property
    def discount(self) -> int:
        return sum(d.amount for d in self.discounts)

    @property
    def total(self) -> int:
        return max(self.subtotal - self.discount, 0)


def discount_label(discount) -> str:
    """A discount's line in the reader's language, for a quote's `Discount` and for an
    order's stored dict alike (`{{ d|discount_label }}`); a kind it doesn't know keeps
    the label it was stored with."""
    get = discount.get if isinstance(discount, dict) else lambda key: getattr(discount, key, None)
    kind, name = get("kind"), get("name")
    if kind == "points":
        return _("Points (%(points)s P)", points=number(get("amount")))
    if kind == "coupon" and name:
        return _("Coupon: %(name)s", name=name)
    return get("label") or ""


# (name, provider(quote, user, options) -> Discount | None); filled by later issues.
DISCOUNT_PROVIDERS: list = []


def quote_games(games, user=None, options: dict | None = None) -> Quote:
    """Price `games` now: sale prices inside their window, then every discount provider."""
    now = utcnow()
    quote = Quote(lines=[Line(g.id, g.title, g.price, g.current_price(now)) for g in games])
    for _name, provider in DISCOUNT_PROVIDERS:
        discount = provider(quote, user, options or {})
        if discount is not None and discount.amount > 0:
            discount.amount = min(discount.amount, quote.total)
            quote.discounts.append(discount)
    return quote
