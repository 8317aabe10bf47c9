"""How an order's discounts are shared out among its games, for per-game refunds.

The rule (docs/refunds.md): each discount of the order (a coupon, points, in the order
they were applied at checkout) is split among the lines in proportion to what is left
of each line's price after the discounts before it, in whole won, by largest remainder:
every line gets the floor of its exact share, and the won left over go one each to the
lines with the largest fractions (the earlier line on a tie). So the shares of a
discount add up to exactly that discount, no line's shares exceed its price, and a
line's share is fixed when the order is paid, whatever order the games are refunded
in. A line's refund is its price less its shares: refunding every game one by one
returns exactly what refunding the whole order returns.
"""
from dataclasses import dataclass, field


@dataclass
class LineShare:
    line_id: int
    price: int
    discounts: dict = field(default_factory=dict)  # discount kind -> won of it on this line

    @property
    def discount(self) -> int:
        return sum(self.discounts.values())

    @property
    def cash(self) -> int:
        """What goes back to the way the buyer paid when this line is refunded."""
        return self.price - self.discount


def split(amount: int, weights: list[int]) -> list[int]:
    """`amount` won split in proportion to `weights` by largest remainder (ties: the
    earlier weight). Never gives a weight more than itself; capped at sum(weights)."""
    total = sum(weights)
    amount = max(min(int(amount), total), 0)
    if total <= 0 or amount == 0:
        return [0] * len(weights)
    parts = [amount * w // total for w in weights]
    left = amount - sum(parts)
    by_fraction = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in by_fraction[:left]:
        parts[i] += 1
    return parts


def shares(order) -> dict[int, LineShare]:
    """{line id: LineShare} for every line of `order` (refunded or not)."""
    lines = list(order.lines)
    left = [line.price for line in lines]
    result = {line.id: LineShare(line.id, line.price) for line in lines}
    for discount in order.discounts or []:
        kind = str(discount.get("kind") or "discount")
        for i, part in enumerate(split(int(discount.get("amount") or 0), left)):
            got = result[lines[i].id].discounts
            got[kind] = got.get(kind, 0) + part
            left[i] -= part
    return result


def unrefunded_cash(order) -> int:
    """What is left to give back for the lines not refunded yet."""
    every = shares(order)
    return sum(every[line.id].cash for line in order.lines if not line.refunded)
