"""A search with no hits falls back to the closest known words ("did you mean"), on
both databases: typos of real titles find them, searches with hits never pay for it."""
import html
import re

import pytest
from sqlalchemy import event, select

from shop.accounts.models import User
from shop.catalog import admin_services, services, typos
from shop.catalog.search import search_ids
from shop.extensions import db

from ..support.accounts import make_user

TITLES = ["Dragon Adventure", "Silent Knight", "Hollow Knight", "Stellar Souls", "Driftwood", "Celeste",
          "푸른 바다 이야기", "별의 노래"]
# More popular games whose titles contain the same words.
LONGER = ["{t}: Remastered", "Return of {t}"]
# (typo, the title it means, whether that title must be the first hit): one-word typos
# find every title with the word; a whole mistyped title finds that title first.
TYPOS = [
    ("kinght", "Silent Knight", False),            # two letters swapped
    ("dargon", "Dragon Adventure", False),
    ("adventrue", "Dragon Adventure", False),
    ("dargon adventrue", "Dragon Adventure", True),  # both words mistyped
    ("hollow kinght", "Hollow Knight", True),       # one of two
    ("stelar souls", "Stellar Souls", True),        # a letter missing
    ("drfitwood", "Driftwood", True),
    ("celestte", "Celeste", True),                  # a letter too many
    ("푸른 바디 이야기", "푸른 바다 이야기", True),     # 바다 → 바디: one vowel
    ("별의 노레", "별의 노래", True),                  # 노래 → 노레: ㅐ for ㅔ, the commonest Korean slip
]


@pytest.fixture
def shop(app):
    """Each title, and more popular longer titles with its words; {title: id}."""
    with app.app_context():
        publisher = db.session.get(User, make_user(role="publisher").id)
        ids = {}
        for title in TITLES:
            for k, pattern in enumerate(LONGER):
                _game(publisher, pattern.format(t=title), sales=100 + k)
            ids[title] = _game(publisher, title, sales=1)
        db.session.commit()
        return ids


def _game(publisher, title, sales):
    game = services.create_game(publisher, services.GameInput(title=title, price=1000))
    game.sales_count = sales
    return game.id


def test_ten_typos_of_real_titles_find_them(app, shop):
    with app.app_context():
        assert all(search_ids(typo, limit=5).ids == [] for typo, _, _ in TYPOS)  # typos indeed
        found = {}
        for typo, title, first in TYPOS:
            hits, suggestion = typos.search(typo, limit=20)
            found[typo] = (hits.ids.index(shop[title]) if shop[title] in hits.ids else None, suggestion.label)
        assert found == {typo: (0 if first else found[typo][0], title if first else found[typo][1])
                         for typo, title, first in TYPOS}
        assert all(index is not None for index, _ in found.values())
        # A corrected word is named as the query when no title is exactly it.
        assert found["kinght"][1] == "knight" and found["adventrue"][1] == "adventure"


def test_the_corrected_words(app, shop):
    with app.app_context():
        assert typos.corrected("dargon adventrue") == "dragon adventure"
        assert typos.corrected("hollow kinght") == "hollow knight"  # known words stay
        assert typos.corrected("별의 노레") == "별의 노래"
        assert typos.corrected("hollow knight") is None  # nothing to correct
        assert typos.corrected("xyzzyqwv kinght") is None  # a word with no neighbour
        hits, suggestion = typos.search("zzqxjv", limit=20)
        assert (hits.ids, suggestion) == ([], None)


def test_a_search_with_hits_never_reads_the_vocabulary(app, shop):
    with app.app_context():
        engine = db.engine
        seen = []

        def watch(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", watch)
        try:
            hits, suggestion = typos.search("stellar souls", limit=20)
            assert hits.ids and suggestion is None
            assert seen and not [s for s in seen if "search_words" in s]
            typos.search("stelar souls", limit=20)
            assert [s for s in seen if "search_words" in s]
        finally:
            event.remove(engine, "before_cursor_execute", watch)


def test_new_titles_and_tags_join_the_vocabulary(app, shop):
    with app.app_context():
        tag = admin_services.create_tag("Metroidvania")
        publisher = db.session.scalar(select(User).where(User.role == "publisher"))
        game = services.create_game(publisher, services.GameInput(title="Zephyrine Odyssey", price=1000,
                                                                  tag_ids=[tag.id]))
        db.session.commit()
        assert typos.search("zephyrnie", limit=5)[0].ids == [game.id]
        assert typos.search("metriodvania", limit=5)[0].ids == [game.id]  # a tag's word


def test_edit_distance_counts_a_swap_as_one_edit():
    assert typos.distance("kinght", "knight") == 1
    assert typos.distance("adventrue", "adventure") == 1
    assert typos.distance("celestte", "celeste") == 1
    assert typos.distance("dragon", "wagon") == 2
    assert typos.distance("", "abc") == 3
    assert typos.distance(typos.key("노레"), typos.key("노래")) == 1  # jamo: one vowel


def _text(res) -> str:
    return html.unescape(res.get_data(as_text=True))


@pytest.mark.parametrize("lang, said", [("en", "No games match “stelar souls”. Did you mean “Stellar Souls”?"),
                                        ("ko", "“stelar souls”에 맞는 게임이 없어요. 혹시 “Stellar Souls” 찾으셨나요?")])
def test_the_search_page_says_did_you_mean_and_shows_the_title(client, shop, lang, said):
    res = client.get("/search?q=stelar+souls", headers={"Accept-Language": lang})
    page = _text(res)
    assert res.status_code == 200
    assert said in re.sub(r"<[^>]+>", "", page)
    assert 'href="/search?q=stellar+souls"' in page
    titles = re.findall(r'class="search-title">([^<]+)<', page)
    assert titles[0] == "Stellar Souls" and len(titles) == 1 + len(LONGER)


def test_live_search_says_did_you_mean(client, shop):
    page = _text(client.get("/search/live?q=dargon+adventrue"))
    assert "Did you mean “Dragon Adventure”?" in page
    assert re.findall(r'class="live-title">([^<]+)<', page)[0] == "Dragon Adventure"
    assert 'href="/search?q=dragon+adventure"' in page  # "see all" follows the correction
    korean = _text(client.get("/search/live?q=dargon+adventrue", headers={"Accept-Language": "ko"}))
    assert "혹시 “Dragon Adventure” 찾으셨나요?" in korean


def test_no_suggestion_when_nothing_is_near(client, shop):
    page = _text(client.get("/search?q=zzqxjv"))
    assert "No games match “zzqxjv”" in page and "Did you mean" not in page
    assert _text(client.get("/search/live?q=zzqxjv")).count("No games match") == 1
