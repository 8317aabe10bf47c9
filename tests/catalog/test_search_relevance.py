"""Search relevance: the title typed word for word comes first, however popular the
longer titles that contain the same words are."""
import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog import services
from shop.catalog.models import Game
from shop.catalog.search import search_ids
from shop.extensions import db

from ..support.accounts import make_user

# One, two and three words, English and Korean.
EXACT = [
    "Celeste", "Outpost", "Ember", "Driftwood", "별빛", "검객",
    "Stellar Souls", "Hollow Knight", "Iron Harbor", "Night Garden", "별의 노래", "어둠의 숲",
    "The Last Lantern", "Age of Embers", "Dark Souls Remastered", "Quiet Ember Forest", "푸른 바다 이야기",
    "용사의 검 전설", "Space Pirates", "Deep Rock",
]
# More popular games whose titles start with, contain or extend the exact title.
LONGER = ["{t}: Remastered", "{t} Deluxe Edition", "Return of {t}", "{t} 2", "{t} Online", "{t} of Doom"]


@pytest.fixture
def catalog(app):
    with app.app_context():
        publisher = db.session.get(User, make_user(role="publisher").id)
        exact_ids = {}
        for n, title in enumerate(EXACT):
            for k, pattern in enumerate(LONGER):
                _game(publisher, pattern.format(t=title), sales=1000 + 10 * n + k)
            exact_ids[title] = _game(publisher, title, sales=n)  # the least popular of its family
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            from sqlalchemy import text
            db.session.execute(text("ANALYZE games"))
        return exact_ids  # (no app context stays pushed during the test)


def _game(publisher, title, sales):
    game = services.create_game(publisher, services.GameInput(title=title, price=1000))
    game.sales_count = sales
    return game.id


def test_the_exact_title_comes_first_for_each_of_twenty_titles(app, catalog):
    with app.app_context():
        firsts = {title: search_ids(title, limit=5).ids[:1] for title in EXACT}
        assert firsts == {title: [game_id] for title, game_id in catalog.items()}
        # Case, accents and punctuation are folded as everywhere else in search.
        assert search_ids("  stellar   SOULS! ", limit=3).ids[0] == catalog["Stellar Souls"]


def test_the_longer_titles_follow_by_popularity_without_repeats(app, catalog):
    with app.app_context():
        hits = search_ids("Stellar Souls", limit=20, count=True)
        titles = [db.session.get(Game, i).title for i in hits.ids]
        assert titles[0] == "Stellar Souls"
        assert len(hits.ids) == len(set(hits.ids)) == hits.total == 1 + len(LONGER)
        # Then the tiers as before: the title starts with the query, by popularity.
        assert titles[1:4] == ["Stellar Souls of Doom", "Stellar Souls Online", "Stellar Souls 2"]
        assert titles[-1] == "Return of Stellar Souls"
        # Pages do not repeat or skip the exact title.
        pages = search_ids("stellar souls", limit=3).ids + search_ids("stellar souls", limit=4, offset=3).ids
        assert pages == hits.ids


def test_a_numbered_sequel_is_not_an_exact_match_but_a_repeated_title_is(app, catalog):
    with app.app_context():
        publisher = db.session.scalar(select(User).where(User.role == "publisher"))
        again = _game(publisher, "Celeste", sales=5000)  # slug celeste-3: celeste-2 is "Celeste 2"
        db.session.commit()
        ids = search_ids("celeste", limit=3).ids
        assert ids[:2] == [again, catalog["Celeste"]]
        assert db.session.get(Game, ids[2]).title != "Celeste"


def test_delisted_exact_titles_are_not_found(app, catalog):
    with app.app_context():
        game = db.session.get(Game, catalog["Iron Harbor"])
        services.set_listed(db.session.get(User, game.publisher_id), game, False)
        assert catalog["Iron Harbor"] not in search_ids("iron harbor", limit=50).ids
