"""Reviews for the demo catalog, written by demo players who bought the game.

Every rating figure the store shows is derived from review rows, so the demo
catalog gets real ones: a pool of demo players (no password; nobody logs in as
them) buys each reviewed game the way a customer does (cart, checkout, the sandbox
gateway's approval, confirm) and then posts through the reviews service, which
keeps the game's rating columns. Which players review game i, and with how many
stars, comes from a random stream seeded with i, so a rerun finds every review
there and adds nothing. Games that sold little often get none and stay unrated.
"""
import logging
import math
import random
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Engine, select

from ..accounts.models import User
from ..errors import DomainError
from ..extensions import db
from ..reviews.models import Review
from ..timeutil import utcnow
from . import seed_words as w
from ..catalog.models import Game

log = logging.getLogger(__name__)

PLAYER_EMAIL = "player-{:02d}@playcation.example"
MAX_REVIEWS = 10  # per game; at most one per player


@dataclass(frozen=True)
class PlannedReview:
    game_id: int
    player: int  # index into the player pool
    rating: int
    body: str


def plan(game_index: int, game_id: int, sales: int) -> list[PlannedReview]:
    """The reviews demo game number `game_index` gets: more for a game that sold
    more (`sales` as generated, so a rerun plans the same), none for many."""
    r = random.Random(f"playcation-reviews-{game_index}").random
    # About 0.8 reviews per tenfold of sales; a hit always gets some, an unsold game none.
    count = min(MAX_REVIEWS, int(math.log10(1 + sales) * (0.4 + 0.8 * r()) + r()))
    if not count:
        return []
    players = random.Random(f"playcation-reviewers-{game_index}").sample(range(len(w.PLAYERS)), count)
    quality = 2.0 + 3.0 * r()  # the game's "true" score; each player is off by up to ±1.5
    out = []
    for player in players:
        rating = min(5, max(1, round(quality + 3.0 * (r() - 0.5))))
        korean = not w.PLAYERS[player].isascii()
        openers = (w.KO_REVIEW_OPENERS if korean else w.REVIEW_OPENERS)[rating]
        remarks = w.KO_REVIEW_REMARKS if korean else w.REVIEW_REMARKS
        body = f"{openers[int(r() * len(openers))]} {remarks[int(r() * len(remarks))]}"
        out.append(PlannedReview(game_id, player, rating, body))
    return out


def seed_reviews(games: dict[int, tuple[int, int]]) -> int:
    """Make sure the demo games `{game index: (game id, generated sales)}` have their planned reviews.
    Returns how many reviews were posted. Needs the sandbox gateway (the demo
    players pay through it); with another gateway it posts none and says so."""
    if not games:
        return 0
    if current_app.config["PAYMENT_GATEWAY"] != "sandbox":
        log.warning("demo reviews skipped: the demo players pay through the sandbox gateway, "
                    "and PAYMENT_GATEWAY is %r", current_app.config["PAYMENT_GATEWAY"])
        return 0
    planned = [review for index, (game_id, sales) in sorted(games.items()) for review in plan(index, game_id, sales)]
    if not planned:
        return 0
    players = _players()
    by_id = {u.id: i for i, u in enumerate(players)}
    done = {(by_id[user_id], game_id) for user_id, game_id in db.session.execute(
        select(Review.user_id, Review.game_id).where(Review.user_id.in_(by_id),
                                                     Review.game_id.in_({p.game_id for p in planned})))}
    missing = [p for p in planned if (p.player, p.game_id) not in done]
    if not missing:
        return 0
    listed = set(db.session.scalars(select(Game.id).where(
        Game.id.in_({p.game_id for p in missing}), Game.status == "listed")))
    missing = [p for p in missing if p.game_id in listed]  # a delisted game can't be bought
    per_player = defaultdict(list)
    for review in missing:
        per_player[review.player].append(review)
    posted = 0
    with _unsynced_sqlite_commits():
        for player, reviews in sorted(per_player.items()):
            posted += _buy_and_review(players[player], reviews)
    return posted


@contextmanager
def _unsynced_sqlite_commits():
    """SQLite: commit without waiting for the disk (`synchronous=NORMAL`, safe in WAL
    mode: a crash can lose only the last commits, which a rerun adds again). The
    players commit once per cart item, payment and review, as customers do, and a
    waited-for commit costs milliseconds. The setting is per connection and can't
    change inside a transaction, so it goes on the pooled connection between them
    (the one a single-threaded command gets back; if not, it is only slower)."""
    engine = db.engine
    if engine.dialect.name != "sqlite" or not isinstance(engine, Engine):  # e.g. a test's open connection
        yield
        return

    def pragma(sql: str):
        db.session.commit()
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql)
            value = cursor.fetchone()
            cursor.close()
        finally:
            raw.close()
        return value

    before = pragma("PRAGMA synchronous")[0]
    pragma("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        db.session.rollback()
        pragma(f"PRAGMA synchronous={int(before)}")


def _players() -> list[User]:
    """The demo players, created when missing (verified: only verified owners review)."""
    emails = [PLAYER_EMAIL.format(n + 1) for n in range(len(w.PLAYERS))]
    found = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(emails)))}
    for email, nickname in zip(emails, w.PLAYERS):
        if email not in found:
            found[email] = User(email=email, nickname=nickname, role="customer", password_hash=None,
                                email_verified_at=utcnow())
            db.session.add(found[email])
    db.session.commit()
    return [found[email] for email in emails]


def _buy_and_review(user: User, reviews: list[PlannedReview]) -> int:
    from ..library.services import owned_game_ids
    from ..reviews.services import ReviewError, post_review

    games = {g.id: g for g in db.session.scalars(select(Game).where(Game.id.in_([r.game_id for r in reviews])))}
    owned = owned_game_ids(user.id, list(games))
    _buy(user, [g for game_id, g in games.items() if game_id not in owned])
    posted = 0
    for review in reviews:
        try:
            post_review(user, games[review.game_id], review.rating, review.body)
            posted += 1
        except ReviewError as exc:  # e.g. the purchase did not go through
            db.session.rollback()
            log.warning("demo review of game %s by %s skipped: %s", review.game_id, user.email, exc.message)
    return posted


def _buy(user: User, games: list[Game]):
    """Buy `games` as a customer does: into the cart (in cartfuls), checkout, approve
    the payment on the sandbox gateway, confirm it."""
    from ..cart.services import MAX_ITEMS, AlreadyInCart, CartError, add_to_cart, cart_count
    from ..orders.gateways import SandboxGateway
    from ..orders.services import CheckoutError, confirm_payment, start_checkout

    pending = list(games)
    while pending or cart_count(user.id):
        room = MAX_ITEMS - cart_count(user.id)
        batch, pending = pending[:room], pending[room:]
        for game in batch:
            try:
                add_to_cart(user, game)
            except AlreadyInCart:
                pass
            except CartError as exc:
                log.warning("demo purchase of game %s by %s skipped: %s", game.id, user.email, exc.message)
        if not cart_count(user.id):
            continue
        try:
            order = start_checkout(user)
        except CheckoutError as exc:
            log.warning("demo checkout by %s failed: %s", user.email, exc.message)
            return
        if order.status == "PENDING":  # a ₩0 order is paid at once
            payment_key = SandboxGateway().authorize(order.public_id, order.total)
            try:
                confirm_payment(order, payment_key, order.total)
            except DomainError as exc:
                log.warning("demo payment by %s failed: %s", user.email, exc.message)
                return
