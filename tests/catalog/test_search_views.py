"""Search pages: /search and the header's /search/live dropdown."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog import cache, services
from shop.catalog.models import Game, Tag
from shop.catalog.search import MAX_RESULTS, search_ids
from shop.extensions import db
from shop.timeutil import utcnow

from ..support.accounts import make_user
from ..support.browser import run_jobs


@pytest.fixture
def shelf(app):
    """Makes games in its own app context (none may stay open during requests)."""

    def make(*titles, tags=(), sales=0, **kw):
        with app.app_context():
            publisher = db.session.scalar(select(User).where(User.role == "publisher"))
            if publisher is None:
                publisher = db.session.get(User, make_user(role="publisher").id)
            tag_ids = [_tag(name).id for name in tags]
            ids = []
            for title in titles:
                game = services.create_game(publisher, services.GameInput(
                    title=title, price=kw.get("price", 16500), tag_ids=tag_ids, sale_price=kw.get("sale_price"),
                    sale_starts_at=kw.get("sale_starts_at"), sale_ends_at=kw.get("sale_ends_at")))
                if sales:
                    game.sales_count = sales
                    db.session.commit()
                ids.append(game.id)
            return ids if len(ids) > 1 else ids[0]

    return make


def _tag(name):
    tag = db.session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        tag = Tag(name=name, slug=name.lower().replace(" ", "-"))
        db.session.add(tag)
        db.session.commit()
    return tag


def _titles(html: str) -> list[str]:
    return re.findall(r'class="(?:search|live)-title">([^<]+)<', html)


def test_results_show_cover_title_link_tags_and_sale_price(client, shelf, app):
    now = utcnow()
    game_id = shelf("Hollow Knight", tags=["Metroidvania", "Indie"], price=16500, sale_price=8200,
                    sale_starts_at=now - timedelta(days=1), sale_ends_at=now + timedelta(days=3))
    with app.app_context():
        db.session.get(Game, game_id).cover_key = f"games/{game_id}/cover.webp"
        db.session.commit()
    shelf("Hollow Ponds")  # no cover: a placeholder

    page = client.get("/search?q=hollow")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<header" in html and 'id="search-results"' in html
    assert 'href="/games/hollow-knight"' in html and 'href="/games/hollow-ponds"' in html
    assert f'src="/media/games/{game_id}/cover.webp"' in html
    assert 'class="cover placeholder"' in html
    assert "Metroidvania" in html and "Indie" in html
    assert "₩8,200" in html and "₩16,500" in html and "-50%" in html
    assert "css/search.css" in html


def test_an_expired_sale_shows_the_regular_price(client, shelf):
    now = utcnow()
    shelf("Celeste", price=22000, sale_price=11000, sale_starts_at=now - timedelta(days=9),
          sale_ends_at=now - timedelta(days=2))
    html = client.get("/search?q=celeste").get_data(as_text=True)
    assert "₩22,000" in html and "₩11,000" not in html


@pytest.mark.parametrize("q", [
    "", " ", "a", "x" * 500, "y" * 5000, '"NEAR(', '"', "%", "_", "%_%", "' OR 1=1 --", "'; DROP TABLE games; --",
    "a AND OR NOT", "NOT", "col:val", "title:hollow", "{title}: x", "*", "**", "^x", "(((", ")",
    "🎮", "🎮🎮 hollow", "\\", "NEAR(a b, 2)", "hollow*", "-hollow", "+", "ß", "İ", "ﬁ", "½", "\u200b", "\ufffd",
])
@pytest.mark.parametrize("path", ["/search", "/search/live"])
def test_hostile_queries_get_a_normal_page(client, shelf, path, q):
    shelf("Hollow Knight")
    response = client.get(path, query_string={"q": q})
    assert response.status_code == 200
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("q", ["\x00", "a\x00b"])
@pytest.mark.parametrize("path", ["/search", "/search/live"])
def test_nul_bytes_are_refused_with_a_clear_page(client, shelf, path, q):
    # shop/web/security.py refuses NUL anywhere in the input (PostgreSQL cannot store it).
    response = client.get(path, query_string={"q": q})
    assert response.status_code == 400
    assert "could not be understood" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["q=hollow&page=0", "q=hollow&page=-3", "q=hollow&page=abc",
                                   "q=hollow&page=99999999999999999999", "q=%FF%FE",
                                   "q=hollow&q=knight", "page=2"])
def test_odd_query_strings_get_a_normal_page(client, shelf, query):
    shelf("Hollow Knight")
    assert client.get(f"/search?{query}", follow_redirects=True).status_code == 200  # past the last: redirected


def test_query_is_escaped_in_the_page(client, shelf):
    html = client.get("/search", query_string={"q": "<script>alert(1)</script>"}).get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_words_match_as_prefixes_in_any_order_case_and_accent_insensitively(client, shelf):
    shelf("Hollow Knight")
    shelf("Pokémon Legends", tags=["RPG"])
    assert _titles(client.get("/search?q=hol+kni").get_data(as_text=True)) == ["Hollow Knight"]
    assert _titles(client.get("/search?q=KNIGHT+hollow").get_data(as_text=True)) == ["Hollow Knight"]
    for q in ("pokemon", "POKÉMON", "poké", "leg pok", "rpg"):
        assert _titles(client.get("/search", query_string={"q": q}).get_data(as_text=True)) == ["Pokémon Legends"], q


def test_korean_titles_are_found_by_a_word_prefix(client, shelf):
    shelf("젤다의 전설 야생의 숨결")
    shelf("Zelda-like Adventure")
    html = client.get("/search", query_string={"q": "젤다"}).get_data(as_text=True)
    assert _titles(html) == ["젤다의 전설 야생의 숨결"]
    assert "/games/%EC%A0%A4" in html or "/games/젤다" in html
    assert _titles(client.get("/search", query_string={"q": "야생 숨"}).get_data(as_text=True)) == ["젤다의 전설 야생의 숨결"]


def test_delisted_games_are_not_found(client, shelf, app):
    game_id = shelf("Hidden Gem")
    with app.app_context():
        game = db.session.get(Game, game_id)
        services.set_listed(db.session.get(User, game.publisher_id), game, False)
    run_jobs(app)  # after_game_change: cached pages showing it are dropped
    assert _titles(client.get("/search?q=hidden").get_data(as_text=True)) == []
    assert _titles(client.get("/search/live?q=hidden").get_data(as_text=True)) == []
    with app.app_context():
        game = db.session.get(Game, game_id)
        services.set_listed(db.session.get(User, game.publisher_id), game, True)
    run_jobs(app)
    assert _titles(client.get("/search?q=hidden").get_data(as_text=True)) == ["Hidden Gem"]


def test_title_starts_first_then_title_words_then_tags_each_by_popularity(client, shelf, app):
    shelf("Star Tag Game", tags=["Space"], sales=5)         # "space" only as a tag
    shelf("Outer Space Trader", sales=50)                   # "space" inside the title
    shelf("Space Miner", sales=1)                           # title starts with "space"
    shelf("Space Pirates", sales=900)
    shelf("Deep Space Nine", sales=2000)
    shelf("Lone Traveller", tags=["Space"], sales=9999)
    titles = _titles(client.get("/search?q=space").get_data(as_text=True))
    assert titles == ["Space Pirates", "Space Miner", "Deep Space Nine", "Outer Space Trader",
                      "Lone Traveller", "Star Tag Game"]


def test_popularity_changes_reorder_results(client, shelf, app):
    a, b = shelf("Racer One", "Racer Two")
    with app.app_context():
        db.session.get(Game, a).sales_count = 10
        db.session.commit()
    assert _titles(client.get("/search?q=racer").get_data(as_text=True)) == ["Racer One", "Racer Two"]
    with app.app_context():
        db.session.get(Game, b).sales_count = 11
        db.session.commit()
        cache.invalidate_game(b)  # as the order's job does (orders/tasks.py)
    assert _titles(client.get("/search?q=racer").get_data(as_text=True)) == ["Racer Two", "Racer One"]


def test_renamed_games_are_found_by_their_new_title_only(client, shelf, app):
    game_id = shelf("Lantern Keeper")
    with app.app_context():
        game = db.session.get(Game, game_id)
        services.update_game(db.session.get(User, game.publisher_id), game,
                             services.GameInput(title="Moth Keeper", price=16500))
    run_jobs(app)
    assert _titles(client.get("/search?q=lantern").get_data(as_text=True)) == []
    assert _titles(client.get("/search?q=moth").get_data(as_text=True)) == ["Moth Keeper"]


def test_results_are_paginated(client, shelf):
    for n in range(25):
        shelf(f"Puzzle Box {n:02d}", sales=n)
    first = client.get("/search?q=puzzle").get_data(as_text=True)
    assert _titles(first) == [f"Puzzle Box {n:02d}" for n in range(24, 4, -1)]
    assert 'rel="next"' in first and 'rel="prev"' not in first and "1–20" in first
    second = client.get("/search?q=puzzle&page=2").get_data(as_text=True)
    assert _titles(second) == [f"Puzzle Box {n:02d}" for n in range(4, -1, -1)]
    assert 'rel="prev"' in second and 'rel="next"' not in second and "21–25" in second
    beyond = client.get("/search?q=puzzle&page=3")  # past the last page: the last page
    assert beyond.status_code == 302 and beyond.location.endswith("/search?q=puzzle&page=2")
    huge = client.get("/search?q=puzzle&page=99999999999999999999", follow_redirects=True)
    assert _titles(huge.get_data(as_text=True)) == _titles(second)
    nothing = client.get("/search?q=nomatch&page=4")
    assert nothing.status_code == 302 and nothing.location.endswith("/search?q=nomatch")


def _total(page: str) -> str:
    return re.search(r'<strong class="search-total">([^<]+)</strong>', page).group(1)


def test_the_total_number_of_hits_is_shown_on_every_page(client, shelf):
    for n in range(25):
        shelf(f"Puzzle Box {n:02d}", sales=n)
    shelf("Puzzling Tags", tags=["Cozy"])
    shelf("Cozy Farm", tags=["Puzzle"])  # a tag match counts too
    first = client.get("/search?q=puzzl").get_data(as_text=True)
    assert _total(first) == "27 games" and "showing 1–20" in first
    assert _total(client.get("/search?q=puzzl&page=2").get_data(as_text=True)) == "27 games"
    assert _total(client.get("/search?q=cozy").get_data(as_text=True)) == "2 games"
    one = client.get("/search?q=farm").get_data(as_text=True)
    assert _total(one) == "1 game" and "showing" not in one


def test_a_total_past_the_reachable_results_says_more_than(client, shelf, monkeypatch):
    from shop.catalog import search, search_views

    monkeypatch.setattr(search, "MAX_RESULTS", 10)  # 1,000 in the shop: too many games to make here
    monkeypatch.setattr(search_views, "MAX_RESULTS", 10)
    for n in range(12):
        shelf(f"Puzzle Box {n:02d}", sales=n)
    assert _total(client.get("/search?q=puzzle").get_data(as_text=True)) == "More than 10 games"


def test_htmx_gets_only_the_results(client, shelf):
    shelf("Hollow Knight")
    partial = client.get("/search?q=hollow", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert html.lstrip().startswith("<section") and "<header" not in html and "Hollow Knight" in html
    assert "HX-Request" in partial.headers.get("Vary", "")
    boosted = client.get("/search?q=hollow", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<header" in boosted.get_data(as_text=True)


def test_empty_and_unsearchable_queries_prompt_instead_of_listing(client, shelf):
    shelf("Hollow Knight")
    for q in ("", "🎮", "%%"):
        html = client.get("/search", query_string={"q": q}).get_data(as_text=True)
        assert "Search the store" in html and _titles(html) == []
    assert "No games match" in client.get("/search?q=zzzzqx").get_data(as_text=True)


def test_live_results_are_a_short_partial(client, shelf):
    for n in range(10):
        shelf(f"Dungeon Crawl {n}", sales=n)
    live = client.get("/search/live?q=dun", headers={"HX-Request": "true"})
    html = live.get_data(as_text=True)
    assert live.status_code == 200 and "<header" not in html and "<html" not in html
    assert _titles(html) == [f"Dungeon Crawl {n}" for n in range(9, 1, -1)]  # top 8
    assert 'href="/search?q=dun"' in html and "See all results" in html


@pytest.mark.parametrize("q", ["", "d", " d ", "🎮", "%"])
def test_live_results_are_empty_for_under_two_characters(client, shelf, q):
    shelf("Dungeon Crawl")
    response = client.get("/search/live", query_string={"q": q})
    assert response.status_code == 200 and response.get_data(as_text=True) == ""


def test_live_results_say_when_nothing_matches(client, shelf):
    shelf("Dungeon Crawl")
    assert "No games match" in client.get("/search/live?q=zzqx").get_data(as_text=True)


def test_search_ids_stops_at_max_results(app, shelf):
    shelf("Tiny Thing")
    with app.app_context():
        assert search_ids("tiny", limit=20, offset=MAX_RESULTS).ids == []
        hits = search_ids("tiny", limit=5, offset=0)
        assert len(hits.ids) == 1 and not hits.has_more


@pytest.mark.parametrize("path", ["walk", "lookup", "small budgets"])
def test_postgres_walk_and_lookup_give_the_same_answers(app, shelf, monkeypatch, path):
    """PostgreSQL reads each tier by walking the popularity index or by an index
    lookup, whichever the statistics favour; both must agree (SQLite has one path)."""
    from shop.catalog import search_pg

    shelf("Space Miner", sales=1)
    shelf("Space Pirates", sales=900)
    shelf("Deep Space Nine", sales=2000)
    shelf("Lone Traveller", tags=["Space"], sales=9999)
    shelf("Spacey Racer", tags=["Racing"], sales=3)
    shelf("Quiet Garden", tags=["Relaxing"], sales=7)
    queries = ["space", "spa", "space pi", "racing", "racer space", "garden", "nothing here", "e"]
    with app.app_context():
        expected = {q: search_ids(q, limit=3, offset=1) for q in queries}
        if path == "small budgets":  # many titles start alike; walks run out and fall back
            monkeypatch.setattr(search_pg, "STARTS_PROBE", 1)
            monkeypatch.setattr(search_pg, "WALK_MIN", 1)
            monkeypatch.setattr(search_pg, "ROW_COST", 10**9)
        else:
            monkeypatch.setattr(search_pg, "FORCE_PATH", path)
        assert {q: search_ids(q, limit=3, offset=1) for q in queries} == expected
        assert search_ids("space", limit=10).ids[:3] == search_ids("space", limit=3).ids


def test_index_follows_every_change_and_stays_consistent(app, shelf):
    """Renames, sales, delisting and deletion keep the search indexes exact (SQLite's
    contentless FTS5 tables are maintained by triggers that must replay old values)."""
    from sqlalchemy import text

    ids = shelf("Alpha Quest", "Beta Quest", "Gamma Quest", tags=["Puzzle"])
    with app.app_context():
        alpha, beta, gamma = (db.session.get(Game, i) for i in ids)
        publisher = db.session.get(User, alpha.publisher_id)
        services.update_game(publisher, alpha, services.GameInput(title="Alpha Saga", price=100))
        beta.sales_count = 77
        db.session.commit()
        services.set_listed(publisher, gamma, False)
        services.set_listed(publisher, gamma, True)
        services.set_listed(publisher, gamma, False)
        db.session.delete(db.session.get(Game, ids[1]))
        db.session.commit()
        assert search_ids("quest").ids == []
        assert search_ids("saga").ids == [ids[0]] and search_ids("alpha").ids == [ids[0]]
        assert search_ids("puzzle").ids == []  # Alpha Saga lost its tags in the update
        if db.engine.dialect.name == "sqlite":
            for table in ("games_title", "games_search"):
                db.session.execute(text(f"INSERT INTO {table}({table}) VALUES ('integrity-check')"))
