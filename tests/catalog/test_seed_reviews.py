"""Demo reviews (`flask catalog seed`): every rating figure comes from review rows
written by demo players who bought the game; a rerun adds nothing."""
import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from shop.accounts.models import User
from shop.cart.models import CartItem
from shop.catalog.models import Game
from shop.dev.seed_games import seed_games
from shop.dev.seed_reviews import PLAYER_EMAIL, plan
from shop.dev.seed import DEMO_USERS
from shop.extensions import db
from shop.orders.models import Order, OrderLine
from shop.library.models import LibraryEntry
from shop.reviews.models import Review
from shop.reviews.services import post_review
from shop.timeutil import utcnow

from ..support.accounts import make_user
from ..support.catalog import make_game

GAMES = 40
PUBLISHER_EMAIL = next(email for role, email, *_ in DEMO_USERS if role == "publisher")


@pytest.fixture
def seeded(app):
    """The demo publisher (so we can log in as it) and 40 seeded games."""
    with app.app_context():
        publisher = make_user(email=PUBLISHER_EMAIL, role="publisher")
        result = seed_games(GAMES, covers=0)
    return publisher, result


def _rows(app) -> dict[int, tuple[str, int, int, int, int]]:
    """{game id: (slug, rating_count, rating_sum, reviews counted, ratings summed)}."""
    with app.app_context():
        counted = select(Review.game_id, func.count().label("n"), func.sum(Review.rating).label("total")) \
            .group_by(Review.game_id).subquery()
        return {gid: (slug, count, total, int(n or 0), int(s or 0)) for gid, slug, count, total, n, s in
                db.session.execute(select(Game.id, Game.slug, Game.rating_count, Game.rating_sum, counted.c.n,
                                          counted.c.total).outerjoin(counted, counted.c.game_id == Game.id))}


def _totals(app) -> dict[str, int]:
    with app.app_context():
        return {name: db.session.scalar(select(func.count()).select_from(model)) for name, model in
                [("reviews", Review), ("orders", Order), ("library", LibraryEntry), ("cart", CartItem),
                 ("users", User)]}


def test_rating_columns_equal_the_review_rows_and_some_games_stay_unrated(app, seeded):
    _, result = seeded
    rows = _rows(app)
    assert len(rows) == GAMES
    for slug, count, total, n, s in rows.values():
        assert (count, total) == (n, s), slug
    rated = [r for r in rows.values() if r[1]]
    assert 0 < len(rated) < GAMES  # some games have reviews, some are honestly unrated
    assert result.reviews == sum(r[3] for r in rows.values()) > len(rated)  # several reviews on some games


def test_every_review_is_by_a_verified_demo_player_who_paid_for_the_game(app, seeded):
    with app.app_context():
        reviews = db.session.scalars(select(Review)).all()
        assert reviews
        for review in reviews:
            author = review.author
            assert author.is_verified and author.role == "customer" and author.password_hash is None
            assert re.fullmatch(PLAYER_EMAIL.replace("{:02d}", r"\d\d"), author.email)
            paid = db.session.scalar(select(func.count()).select_from(OrderLine).join(Order).where(
                Order.user_id == author.id, Order.status == "PAID", OrderLine.game_id == review.game_id))
            owned = db.session.scalar(select(LibraryEntry).where(
                LibraryEntry.user_id == author.id, LibraryEntry.game_id == review.game_id))
            assert paid == 1 and owned.revoked_at is None
            assert db.session.get(Order, owned.order_id).status == "PAID"
        assert db.session.scalar(select(func.count()).select_from(CartItem)) == 0  # every cart was checked out


def test_rerunning_adds_nothing_and_a_larger_n_reviews_only_the_new_games(app, seeded):
    before, rows = _totals(app), _rows(app)
    with app.app_context():
        again = seed_games(GAMES, covers=0)
    assert (again.created, again.reviews) == (0, 0)
    assert _totals(app) == before and _rows(app) == rows
    with app.app_context():
        more = seed_games(GAMES + 10, covers=0)
    after = _rows(app)
    assert more.created == 10 and {gid: after[gid] for gid in rows} == rows  # old games untouched
    assert all(count == n and total == s for _, count, total, n, s in after.values())


def test_the_plan_is_the_same_on_every_run():
    assert plan(7, 70, 500) == plan(7, 70, 500)
    assert plan(3, 30, 0) == []  # a game nobody bought has no reviews


def test_no_reviews_without_the_sandbox_gateway(app):
    app.config["PAYMENT_GATEWAY"] = "toss"
    try:
        with app.app_context():
            result = seed_games(10, covers=0)
            assert result.reviews == 0 and db.session.scalar(select(func.count()).select_from(Review)) == 0
            assert db.session.scalar(select(func.sum(Game.rating_count))) == 0
    finally:
        app.config["PAYMENT_GATEWAY"] = "sandbox"


def test_game_pages_show_a_rating_exactly_when_there_are_reviews(app, client, seeded):
    for slug, count, total, _, _ in _rows(app).values():
        page = client.get(f"/games/{slug}").get_data(as_text=True)
        first = "Be the first to review this game" in page
        assert first == (count == 0), slug
        if count:
            average = round(total / count, 1)
            # The page states the rating once, in the summary beside the buy box.
            summary = re.search(r'<dd id="game-rating-summary">(.*?)</dd>', page, re.S).group(1)
            expected = rf"{average}\s*<span class=\"muted\">\({count:,} review{'s' if count != 1 else ''}\)</span>"
            assert re.search(expected, summary), slug
            assert "No reviews yet" not in page, slug
        else:
            assert "No reviews yet" in page and 'class="stars"' not in page, slug


class _RatingCells(HTMLParser):
    """{game id: text of the last cell} of the rows of /publisher's games table."""

    def __init__(self):
        super().__init__()
        self.cells, self.row, self.text = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and attrs.get("data-game"):
            self.row = int(attrs["data-game"])
        elif tag == "td" and self.row is not None:
            self.text = []

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self.text is not None:
            self.cells[self.row] = " ".join("".join(self.text).split())
            self.text = None
        elif tag == "tr":
            self.row = None


def test_publisher_dashboard_figures_equal_the_review_rows(app, browser, seeded):
    publisher, _ = seeded
    rows = _rows(app)
    browser.login(publisher.email)
    page = browser.get("/publisher/").get_data(as_text=True)
    parser = _RatingCells()
    parser.feed(page)
    assert parser.cells and set(parser.cells) <= set(rows)  # the table may be paginated
    for game_id, cell in parser.cells.items():
        slug, count, total, _, _ = rows[game_id]
        if count:
            assert cell == f"{total / count:.2f} ({count})", (slug, cell)
        else:
            assert cell == "—", (slug, cell)
    reviews = sum(row[1] for row in rows.values())
    weighted = sum(row[2] for row in rows.values()) / reviews
    assert f'id="pub-rating">{weighted:.2f}<' in page
    assert f"{reviews:,} reviews" in page


def test_the_migration_sets_rating_columns_from_the_review_rows(app):
    """0010_seed repairs databases seeded with made-up figures."""
    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0010_seed.py"
    spec = importlib.util.spec_from_file_location("migration_0010_seed", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with app.app_context():
        made_up, reviewed, honest = (make_game(title) for title in ("Made Up", "Reviewed", "Honest"))
        owner = db.session.get(User, make_user().id)
        order = Order(user_id=owner.id, status="PAID", subtotal=0, total=0, gateway="sandbox", expires_at=utcnow())
        db.session.add(order)
        db.session.flush()
        db.session.add(LibraryEntry(user_id=owner.id, game_id=reviewed, order_id=order.id))
        db.session.commit()
        post_review(owner, db.session.get(Game, reviewed), 3, "Fine for a weekend.")
        db.session.execute(update(Game).where(Game.id == made_up).values(rating_count=14, rating_sum=56))
        db.session.execute(update(Game).where(Game.id == reviewed).values(rating_count=9, rating_sum=40))
        for statement in migration.RECOUNT:
            db.session.execute(text(statement))
        db.session.commit()
        figures = {gid: (count, total) for gid, count, total in db.session.execute(
            select(Game.id, Game.rating_count, Game.rating_sum).where(Game.id.in_([made_up, reviewed, honest])))}
        assert figures == {made_up: (0, 0), reviewed: (1, 3), honest: (0, 0)}
