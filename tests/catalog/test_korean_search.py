"""Korean search: a Hangul word is found inside the title's words (particles and
compounds are glued on: "젤다" → "젤다의 전설", "늑대" → "흰늑대의 노래"), beside the
word-prefix search English titles get; the exact title still comes first."""
import pytest
from sqlalchemy import select, text

from shop.accounts.models import User
from shop.catalog import search_pg, services
from shop.catalog.models import Game, Tag
from shop.catalog.search import search_ids
from shop.extensions import db

from ..support.accounts import make_user

# title -> (sales, tags). The exact titles are the least popular of their families.
GAMES = {
    "젤다의 전설": (1, []),
    "젤다의 전설: 리마스터": (900, []),
    "젤다의 전설 2": (800, []),
    "황금 하늘의 검": (5, ["Indie"]),
    "하늘": (2, []),
    "하늘 정원 이야기": (700, []),
    "밤하늘 아래 카페": (600, []),
    "흰늑대의 노래": (3, ["Indie"]),
    "늑대와 여우": (650, []),
    "외로운 늑대 키우기": (640, ["Casual"]),
    "늑장 대응": (9000, []),          # 늑 and 대 in different words: no "늑대" in it
    "무인섬 서바이벌": (4, []),
    "Neo Seoul 하늘도시": (300, ["Sci-fi"]),
    "Stellar Souls": (6, []),
    "Stellar Souls: Remastered": (990, []),
    "Wolf Among Stars": (500, ["Indie"]),
}


@pytest.fixture
def catalog(app):
    with app.app_context():
        publisher = db.session.get(User, make_user(role="publisher").id)
        tags = {}
        ids = {}
        for title, (sales, tag_names) in GAMES.items():
            for name in tag_names:
                if name not in tags:
                    tags[name] = Tag(name=name, slug=name.lower())
                    db.session.add(tags[name])
                    db.session.flush()
            game = services.create_game(publisher, services.GameInput(
                title=title, price=1000, tag_ids=[tags[n].id for n in tag_names]))
            game.sales_count = sales
            ids[title] = game.id
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE games"))
            db.session.commit()
        yield ids


def _titles(q: str, limit: int = 20) -> list[str]:
    return [db.session.get(Game, i).title for i in search_ids(q, limit=limit).ids]


@pytest.mark.parametrize("title", ["젤다의 전설", "황금 하늘의 검", "하늘", "흰늑대의 노래", "무인섬 서바이벌",
                                   "Stellar Souls", "Neo Seoul 하늘도시"])
def test_the_exact_title_is_the_first_hit(app, catalog, title):
    with app.app_context():
        assert search_ids(title, limit=5).ids[0] == catalog[title]


@pytest.mark.parametrize("q, title", [
    ("젤다", "젤다의 전설"), ("하늘", "황금 하늘의 검"), ("늑대", "흰늑대의 노래"),
    ("하늘의", "황금 하늘의 검"), ("늑대의", "흰늑대의 노래"), ("흰늑대", "흰늑대의 노래"),
    ("늘", "밤하늘 아래 카페"), ("섬", "무인섬 서바이벌"), ("황금 검", "황금 하늘의 검"),
])
def test_a_korean_word_is_found_inside_title_words(app, catalog, q, title):
    with app.app_context():
        assert title in _titles(q)


def test_titles_with_the_word_itself_come_before_those_containing_it(app, catalog):
    with app.app_context():
        titles = _titles("하늘")
        # Exact, then titles starting with it by popularity, then the rest by popularity.
        assert titles == ["하늘", "하늘 정원 이야기", "밤하늘 아래 카페", "Neo Seoul 하늘도시", "황금 하늘의 검"]
        assert _titles("젤다")[:3] == ["젤다의 전설: 리마스터", "젤다의 전설 2", "젤다의 전설"]


def test_characters_in_different_words_do_not_make_a_match(app, catalog):
    with app.app_context():
        assert "늑장 대응" not in _titles("늑대")
        assert _titles("늑대") == ["늑대와 여우", "외로운 늑대 키우기", "흰늑대의 노래"]


@pytest.mark.parametrize("q, title", [
    ("늑대 indie", "흰늑대의 노래"), ("seoul 하늘", "Neo Seoul 하늘도시"), ("하늘도시 neo", "Neo Seoul 하늘도시"),
    ("wolf 늑대", None), ("stellar", "Stellar Souls: Remastered"), ("sci 도시", "Neo Seoul 하늘도시"),
])
def test_mixed_korean_and_english_queries(app, catalog, q, title):
    with app.app_context():
        titles = _titles(q)
        if title is None:
            assert titles == []
        else:
            assert titles[0] == title, titles


def test_a_renamed_game_is_found_by_its_new_title_only(app, catalog):
    with app.app_context():
        game = db.session.get(Game, catalog["흰늑대의 노래"])
        publisher = db.session.get(User, game.publisher_id)
        services.update_game(publisher, game, services.GameInput(title="붉은여우의 꿈", price=1000))
        assert game.title_grams == "붉은 은여 여우 우의 의 꿈"
        assert "붉은여우의 꿈" in _titles("여우") and "붉은여우의 꿈" not in _titles("늑대")


@pytest.mark.parametrize("q", ["ㅈㄷ", "ㅈ", "젤ㄷ", "가" * 600, "하늘 " * 200, "🎮", "🎮젤다", "젤다🎮하늘",
                               "\u1100\u1161", "ᄀ", "ퟻ", "각" * 13, '"하늘"*', "하늘 OR 검", "하늘:*"])
def test_odd_korean_input_gets_results_or_none_but_never_an_error(app, catalog, client, q):
    with app.app_context():
        search_ids(q, limit=20, count=True)
    for path in ("/search", "/search/live"):
        assert client.get(path, query_string={"q": q}).status_code == 200


def test_emoji_next_to_a_word_do_not_hide_it(app, catalog):
    with app.app_context():
        assert "젤다의 전설" in _titles("🎮젤다")


@pytest.mark.parametrize("path", ["walk", "lookup"])
def test_postgres_walk_and_lookup_agree_on_korean_queries(app, catalog, monkeypatch, path):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        queries = ["하늘", "늑대", "젤다", "흰늑대", "늘", "늑대 indie", "seoul 하늘", "황금 검", "ㅈㄷ"]
        expected = {q: search_ids(q, limit=20) for q in queries}
        monkeypatch.setattr(search_pg, "FORCE_PATH", path)
        assert {q: search_ids(q, limit=20) for q in queries} == expected


def test_title_grams_are_in_the_index_for_existing_rows(app, catalog):
    with app.app_context():
        grams = db.session.scalar(select(Game.title_grams).where(Game.id == catalog["흰늑대의 노래"]))
        assert grams == "흰늑 늑대 대의 의 노래 래"
        assert db.session.scalar(select(Game.title_grams).where(Game.id == catalog["Stellar Souls"])) == ""
