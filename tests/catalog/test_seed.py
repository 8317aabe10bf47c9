"""Demo catalog: `flask catalog seed --games N`."""
import io
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.dev import seed_words
from shop.dev.seed import DEMO_USERS
from shop.catalog.models import Category, Game, Tag
from shop.catalog.search import search_ids
from shop.dev.seed_games import SEED_PUBLISHER, seed_games
from shop.catalog.services import search_text_for, title_grams_for
from shop.extensions import db
from shop.infra.storage import get_storage

from ..support.accounts import make_user


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Game))


def test_seed_creates_plausible_games_with_categories_and_tags(ctx):
    result = seed_games(120, covers=0)
    assert (result.created, result.existing) == (120, 0) and _count() == 120
    games = list(db.session.scalars(select(Game)))
    assert {c.name for c in db.session.scalars(select(Category))} == set(seed_words.CATEGORIES)
    assert {t.name for t in db.session.scalars(select(Tag))} == set(seed_words.TAGS)
    # Korean pages show Korean names: every seeded term has one.
    korean = {t.name: t.name_ko for model in (Category, Tag) for t in db.session.scalars(select(model))}
    assert None not in korean.values() and korean["Roguelike"] == "로그라이크" and korean["Action"] == "액션"
    assert len({g.slug for g in games}) == 120
    korean = [g for g in games if any("\uac00" <= ch <= "\ud7a3" for ch in g.title)]
    assert 25 <= len(korean) <= 55  # about a third, with Korean descriptions
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in g.short_description + g.description) for g in korean)
    assert any(g.sale_price is not None for g in games) and any(g.price == 0 for g in games)
    for game in games:
        assert game.category is not None and 1 <= len(game.tags) <= 5
        assert game.price in seed_words.PRICES
        assert game.search_text == search_text_for(game.title, game.tags)  # what the services would write
        assert game.title_grams == title_grams_for(game.title)
        assert game.short_description and game.description
        assert date(2015, 1, 1) < game.release_date < date.today().replace(year=date.today().year + 1)
        if game.sale_price is not None:
            assert 0 <= game.sale_price < game.price and game.sale_starts_at < game.sale_ends_at
    owner = db.session.get(User, games[0].publisher_id)
    assert owner.email == SEED_PUBLISHER[0] and owner.role == "publisher"


def test_rerunning_adds_nothing_and_a_larger_n_adds_only_the_rest(ctx):
    seed_games(30, covers=0)
    slugs = set(db.session.scalars(select(Game.slug)))
    again = seed_games(30, covers=0)
    assert (again.created, again.existing) == (0, 30) and _count() == 30
    more = seed_games(45, covers=0, batch_size=7)
    assert (more.created, more.existing) == (15, 30) and _count() == 45
    assert slugs < set(db.session.scalars(select(Game.slug)))


def test_first_games_get_generated_webp_covers(ctx):
    result = seed_games(12, covers=3)
    assert result.covers == 3
    covered = list(db.session.scalars(select(Game).where(Game.cover_key.is_not(None))))
    assert len(covered) == 3
    for game in covered:
        image = Image.open(io.BytesIO(get_storage().read(game.cover_key)))
        assert image.format == "WEBP" and image.size == (920, 430)
    assert seed_games(12, covers=3).covers == 0  # already there


def test_games_belong_to_the_demo_publisher_when_there_is_one(ctx):
    email = next(email for role, email, *_ in DEMO_USERS if role == "publisher")
    demo = make_user(email=email, role="publisher")
    seed_games(5, covers=0)
    assert set(db.session.scalars(select(Game.publisher_id))) == {demo.id}
    assert db.session.scalar(select(User).where(User.email == SEED_PUBLISHER[0])) is None


def test_seeded_games_are_searchable(ctx):
    seed_games(25, covers=0)
    game = db.session.scalar(select(Game).where(Game.status == "listed").order_by(Game.id))
    assert game.id in search_ids(game.title, limit=50).ids
    korean = db.session.scalar(select(Game).where(Game.title_grams != "").order_by(Game.id))
    assert search_ids(korean.title, limit=5).ids[0] == korean.id
    assert korean.id in search_ids(korean.title_grams.split()[0], limit=50).ids  # a bigram inside a word


def test_cli_reports_what_it_did(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["catalog", "seed", "--games", "6", "--covers", "0"])
    assert first.exit_code == 0, first.output
    assert "6 games created, 0 already there" in first.output
    second = runner.invoke(args=["catalog", "seed", "--games", "6", "--covers", "0"])
    assert "0 games created, 6 already there" in second.output
