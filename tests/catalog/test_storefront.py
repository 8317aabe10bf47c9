"""Store front: the home page rows, /games (filters, sorts, pages, htmx) and the game page."""
import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from shop.catalog import cache, rankings, services
from shop.catalog.models import Category, Game, Screenshot, Tag
from shop.extensions import db
from shop.timeutil import utcnow
from shop.web.i18n import datetime_kst

from ..support.accounts import make_user
from ..support.browser import run_jobs

HX = {"HX-Request": "true"}
TITLE_RE = re.compile(r'class="card-title">([^<]+)</h3>')


@pytest.fixture
def shop(app):
    """Makes catalog rows inside short app contexts (none stays open during requests)."""

    class Shop:
        def __init__(self):
            with app.app_context():
                self.publisher_id = make_user(role="publisher", nickname="Team Cherry").id

        def category(self, name):
            with app.app_context():
                row = Category(name=name, slug=name.lower())
                db.session.add(row)
                db.session.commit()
                return row.id

        def tag(self, name):
            with app.app_context():
                row = Tag(name=name, slug=name.lower())
                db.session.add(row)
                db.session.commit()
                return row.id

        def game(self, title, price=10000, listed=True, ratings=(), **fields):
            """`fields` go to GameInput when it knows them, onto the row otherwise
            (featured, sales_count, cover_key). `ratings`: one review by a new owner each."""
            known = set(services.GameInput.__dataclass_fields__)
            data = {k: v for k, v in fields.items() if k in known}
            extra = {k: v for k, v in fields.items() if k not in known}
            with app.app_context():
                from shop.accounts.models import User

                publisher = db.session.get(User, self.publisher_id)
                game = services.create_game(publisher, services.GameInput(title=title, price=price, **data))
                for name, value in extra.items():
                    setattr(game, name, value)
                if not listed:
                    services.set_listed(publisher, game, False)
                db.session.commit()
                game_id = game.id
                for rating in ratings:
                    self._review(game_id, rating)
                game = db.session.get(Game, game_id)
                return SimpleNamespace(id=game.id, slug=game.slug, title=game.title)

        @staticmethod
        def _review(game_id, rating):
            """A review through the reviews service, by a new player who owns the game."""
            from shop.accounts.models import User
            from shop.orders.models import Order
            from shop.library.models import LibraryEntry
            from shop.reviews.services import post_review

            owner = db.session.get(User, make_user().id)
            order = Order(user_id=owner.id, status="PAID", subtotal=0, total=0, gateway="sandbox",
                          expires_at=utcnow())
            db.session.add(order)
            db.session.flush()
            db.session.add(LibraryEntry(user_id=owner.id, game_id=game_id, order_id=order.id))
            db.session.commit()
            post_review(owner, db.session.get(Game, game_id), rating, "Played it through; worth it.")

        def update(self, game_id, **changes):
            with app.app_context():
                from shop.accounts.models import User

                game = db.session.get(Game, game_id)
                data = services.GameInput(
                    title=game.title, price=game.price, short_description=game.short_description,
                    description=game.description, sale_price=game.sale_price, sale_starts_at=game.sale_starts_at,
                    sale_ends_at=game.sale_ends_at, release_date=game.release_date, category_id=game.category_id,
                    tag_ids=[t.id for t in game.tags])
                for name, value in changes.items():
                    setattr(data, name, value)
                services.update_game(db.session.get(User, self.publisher_id), game, data)
                return game.slug

    return Shop()


def titles(res) -> list[str]:
    assert res.status_code == 200, res.status_code
    return TITLE_RE.findall(res.get_data(as_text=True))


def days(n):
    return utcnow() + timedelta(days=n)


# --- /games: sorts -----------------------------------------------------------------------

@pytest.fixture
def priced(shop):
    """Three games whose sale windows decide their price today."""
    shop.game("Full Price", price=15000, sales_count=5, ratings=(4, 4))                     # 4.0
    shop.game("Sale Now", price=30000, sale_price=9000, sale_starts_at=days(-1), sale_ends_at=days(2),
              sales_count=50, ratings=(5, 4) * 5, release_date=date(2024, 1, 1))               # 4.5
    shop.game("Sale Later", price=20000, sale_price=1000, sale_starts_at=days(3), sales_count=20,
              release_date=date(2025, 6, 1))
    shop.game("Sale Over", price=12000, sale_price=500, sale_starts_at=days(-9), sale_ends_at=days(-2),
              sales_count=1, ratings=(5,), release_date=date(2023, 3, 3))                     # 5.0


@pytest.mark.parametrize("sort,expected", [
    ("price_asc", ["Sale Now", "Sale Over", "Full Price", "Sale Later"]),
    ("price_desc", ["Sale Later", "Full Price", "Sale Over", "Sale Now"]),
    ("bestselling", ["Sale Now", "Sale Later", "Full Price", "Sale Over"]),
    ("relevance", ["Sale Now", "Sale Later", "Full Price", "Sale Over"]),  # no q: best selling
    ("rating", ["Sale Over", "Sale Now", "Full Price", "Sale Later"]),    # unrated last
])
def test_sorts_use_the_price_charged_today(client, priced, sort, expected):
    assert titles(client.get(f"/games?sort={sort}")) == expected


def test_newest_sorts_by_release_date(client, shop):
    shop.game("Old", release_date=date(2020, 1, 1))
    shop.game("Newer", release_date=date(2024, 5, 5))
    shop.game("Mid", release_date=date(2022, 2, 2))
    assert titles(client.get("/games?sort=newest")) == ["Newer", "Mid", "Old"]


def test_sale_badge_only_inside_the_sale_window(client, priced):
    page = client.get("/games?sort=price_asc").get_data(as_text=True)
    cards = dict(zip(TITLE_RE.findall(page), page.split('class="card-title">')[1:]))
    assert "-70%" in cards["Sale Now"] and "<del>" in cards["Sale Now"] and "₩9,000" in cards["Sale Now"]
    for title in ("Sale Later", "Sale Over", "Full Price"):
        assert "discount-pct" not in cards[title]
    assert "₩20,000" in cards["Sale Later"] and "₩12,000" in cards["Sale Over"]


def test_relevance_with_a_query_follows_the_search_ranking(client, shop):
    shop.game("Space Trader", sales_count=100)
    shop.game("Space", sales_count=1)
    shop.game("Farm Life", sales_count=500)
    found = titles(client.get("/games?q=space"))
    assert sorted(found) == ["Space", "Space Trader"]  # the farm is not a match
    assert titles(client.get("/games?q=space&sort=bestselling")) == ["Space Trader", "Space"]
    assert titles(client.get("/games?q=zzzz")) == []


# --- /games: filters --------------------------------------------------------------------

def test_filters_combine(client, shop):
    action, puzzle = shop.category("Action"), shop.category("Puzzle")
    rpg, coop = shop.tag("RPG"), shop.tag("Coop")
    shop.game("Blade", price=30000, category_id=action, tag_ids=[rpg, coop])
    shop.game("Dagger", price=5000, category_id=action, tag_ids=[rpg], sale_price=0, sale_ends_at=days(1))
    shop.game("Cubes", price=0, category_id=puzzle, tag_ids=[coop])
    shop.game("Hidden Blade", price=1000, category_id=action, tag_ids=[rpg, coop], listed=False)

    def found(qs):
        return sorted(titles(client.get("/games?" + qs)))

    assert found("") == ["Blade", "Cubes", "Dagger"]
    assert found("category=action") == ["Blade", "Dagger"]
    assert found("tag=rpg") == ["Blade", "Dagger"]
    assert found("tag=rpg&tag=coop") == ["Blade"]                  # every chosen tag
    assert found("tag=coop&category=puzzle") == ["Cubes"]
    assert found("price_min=1000&price_max=30000") == ["Blade"]   # Dagger costs ₩0 today
    assert found("price_max=0") == ["Cubes", "Dagger"]
    assert found("free=1") == ["Cubes", "Dagger"]
    assert found("on_sale=1") == ["Dagger"]
    assert found("on_sale=1&category=puzzle") == []
    assert found("category=no-such&tag=nope") == ["Blade", "Cubes", "Dagger"]  # unknown: ignored
    assert found("price_min=30000&price_max=1000") == ["Blade"]   # swapped into a range


def test_filter_form_reflects_the_url(client, shop):
    shop.category("Action")
    shop.tag("RPG")
    page = client.get("/games?category=action&tag=rpg&on_sale=1&price_max=5000&sort=newest").get_data(as_text=True)
    assert re.search(r'<option value="action"\s+selected', page)
    assert re.search(r'value="rpg"\s+checked', page)
    assert re.search(r'name="on_sale" value="1"\s+checked', page)
    assert 'name="price_max"' in page and 'value="5000"' in page
    assert re.search(r'<option value="newest"\s+selected', page)


def _sort_menu(page: str) -> list[tuple[str, str, bool]]:
    menu = re.search(r'<select [^>]*id="browse-sort".*?</select>', page, re.S).group(0)
    return [(value, label, bool(selected)) for value, selected, label in
            re.findall(r'<option value="([^"]*)"( selected)?>([^<]+)</option>', menu)]


def test_the_default_sort_is_labelled_with_what_it_sorts_by(client, shop):
    shop.game("Space", sales_count=1)
    without_query = _sort_menu(client.get("/games").get_data(as_text=True))
    assert without_query[0] == ("", "Best selling", True)
    assert [label for _, label, _ in without_query].count("Best selling") == 1
    assert "Relevance" not in [label for _, label, _ in without_query]
    assert _sort_menu(client.get("/games?sort=bestselling").get_data(as_text=True))[0] == ("", "Best selling", True)
    with_query = _sort_menu(client.get("/games?q=space").get_data(as_text=True))
    assert with_query[:2] == [("", "Relevance", True), ("bestselling", "Best selling", False)]
    # A filter change (htmx) swaps the menu too, so typing a query brings "Relevance" back.
    partial = client.get("/games?q=space", headers=HX).get_data(as_text=True)
    assert '<select id="browse-sort" hx-swap-oob="innerHTML">' in partial
    assert _sort_menu(partial)[0] == ("", "Relevance", True)
    assert _sort_menu(client.get("/games?sort=newest").get_data(as_text=True))[1] == ("newest", "Newest", True)


# --- /games: pages, htmx, hostile input ------------------------------------------------------

def test_pages_of_24(client, shop):
    for i in range(30):
        shop.game(f"Game {i:02d}", sales_count=100 - i)
    first = titles(client.get("/games"))
    second = titles(client.get("/games?page=2"))
    assert len(first) == 24 and len(second) == 6
    assert first[0] == "Game 00" and second == [f"Game {i}" for i in range(24, 30)]
    assert titles(client.get("/games?page=99")) == second  # clamped to the last page
    page = client.get("/games?page=2").get_data(as_text=True)
    assert 'rel="prev"' in page and 'aria-current="page">2<' in page and "page 2 of 2" in page


@pytest.mark.parametrize("qs", [
    "page=-1", "page=0", "page=abc", "page=99999999999999999999", "page=1e9", "price_min=x", "price_max=-5",
    "price_min=1e400", "price_max=nan", "sort=evil", "sort=price_asc;DROP TABLE games",
    "tag=" + "x" * 5000, "q=" + "%22" * 300, "q=' OR 1=1 --", "on_sale=maybe", "free[]=1", "page=2&page=x",
    "tag=" + "&tag=".join(str(i) for i in range(200)),
])
def test_garbage_params_give_a_normal_page(client, shop, qs):
    shop.game("Survivor")
    for headers in ({}, HX):
        res = client.get("/games?" + qs, headers=headers)
        assert res.status_code == 200
        assert "game" in res.get_data(as_text=True)


def test_htmx_gets_the_list_alone_and_a_full_load_the_same_list(client, shop):
    for title in ("Alpha", "Beta", "Gamma"):
        shop.game(title, price=1000 * len(title))
    url = "/games?sort=price_desc&price_min=1000&q="
    full = client.get(url)
    partial = client.get(url, headers=HX)
    assert "<html" in full.get_data(as_text=True) and "<html" not in partial.get_data(as_text=True)
    assert 'id="browse-form"' not in partial.get_data(as_text=True)
    assert titles(full) == titles(partial) == ["Alpha", "Gamma", "Beta"]
    for res in (full, partial):
        assert "HX-Request" in res.headers["Vary"]
    # The pushed URL is the cleaned-up, shareable one.
    assert partial.headers["HX-Push-Url"] == "/games?price_min=1000&sort=price_desc"
    # Boosted navigation and htmx history restores need the whole page.
    for extra in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        assert "<html" in client.get(url, headers={**HX, **extra}).get_data(as_text=True)


def test_filter_form_is_wired_to_htmx(client):
    page = client.get("/games").get_data(as_text=True)
    form = re.search(r'<form id="browse-form"[^>]*>', page).group(0)
    assert 'hx-get="/games"' in form and 'hx-target="#game-list"' in form and 'hx-push-url="true"' in form
    assert 'id="game-list"' in page


# --- home page ------------------------------------------------------------------------------

def _section(page: str, heading: str) -> list[str]:
    """Card titles of one home row."""
    start = page.index(f"<h2>{heading}</h2>")
    end = page.find('<section class="home-section"', start)
    return TITLE_RE.findall(page[start:end if end > 0 else None])


def test_home_rows(client, app, shop):
    shop.game("Featured One", featured=True, cover_key="games/x/cover.webp", short_description="Pick of the week")
    shop.game("Discounted", price=10000, sale_price=2500, sale_ends_at=days(1))
    shop.game("Not Yet", price=10000, sale_price=2500, sale_starts_at=days(1))
    shop.game("Brand New", release_date=date.today() - timedelta(days=1))
    shop.game("Future", release_date=date.today() + timedelta(days=30))
    seller = shop.game("Seller")
    hot = shop.game("Hot")
    shop.game("Gone", listed=False, featured=True, sales_count=9999)
    with app.app_context():
        rankings.record_sale(seller.id, 3)
        rankings.record_view(hot.id)
    page = client.get("/").get_data(as_text=True)
    assert "Find your next favourite game." in page
    assert "Featured One" in page and "Pick of the week" in page and "/media/games/x/cover.webp" in page
    assert _section(page, "Special offers") == ["Discounted"]
    assert "-75%" in page
    assert _section(page, "Top sellers") == ["Seller"]
    assert _section(page, "Trending this week") == ["Hot"]
    new = _section(page, "New releases")
    assert "Brand New" in new and "Future" not in new and "Gone" not in new
    assert "Gone" not in page
    assert 'class="cover placeholder"' in page  # games without a cover get a gradient


def test_home_rows_are_cached_and_dropped_when_a_game_changes(client, app, shop, redis):
    game = shop.game("Old Name", featured=True)
    assert "Old Name" in client.get("/").get_data(as_text=True)
    assert redis.exists("cache:lists:home:featured:en:all")  # keyed by the locale it was rendered in
    shop.update(game.id, title="New Name")
    assert "Old Name" in client.get("/").get_data(as_text=True)  # served from the cache…
    run_jobs(app)                                                 # …until after_game_change runs
    page = client.get("/").get_data(as_text=True)
    assert "New Name" in page and "Old Name" not in page


def test_home_with_an_empty_store(client):
    res = client.get("/")
    assert res.status_code == 200 and "The shelves are being stocked" in res.get_data(as_text=True)


def test_cached_prices_expire_when_a_sale_starts(client, app, shop, redis):
    shop.game("Soon Cheap", featured=True, price=10000, sale_price=5000, sale_starts_at=utcnow() + timedelta(seconds=40))
    client.get("/")
    assert 0 < redis.ttl("cache:lists:home:featured:en:all") <= 41


# --- game page ------------------------------------------------------------------------------

def test_game_page_shows_everything(client, app, shop):
    rpg = shop.tag("RPG")
    action = shop.category("Action")
    ends = utcnow().replace(microsecond=0) + timedelta(days=2, hours=3)
    game = shop.game("Hollow Knight", price=16500, sale_price=8250, sale_ends_at=ends, category_id=action,
                     tag_ids=[rpg], short_description="Descend into Hallownest.",
                     description="# Lore\n**Bugs** and <script>alert(1)</script> [site](javascript:alert(1))",
                     release_date=date(2017, 2, 24), cover_key="games/1/cover.webp")
    with app.app_context():
        row = db.session.get(Game, game.id)
        row.screenshots = [Screenshot(key=f"games/1/shot{i}.webp", position=i) for i in range(3)]
        db.session.commit()
    res = client.get(f"/games/{game.slug}")
    page = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "<h1 class=\"game-title\">Hollow Knight</h1>" in page
    assert "Team Cherry" in page and "2017-02-24" in page and "Descend into Hallownest." in page
    assert 'href="/games?tag=rpg"' in page and 'href="/games?category=action"' in page
    assert "<strong>Bugs</strong>" in page and "<script>alert" not in page and 'href="javascript' not in page
    assert page.count("data-gallery-thumb") == 3 and "/media/games/1/shot0.webp" in page
    assert "-50%" in page and "₩16,500" in page and "₩8,250" in page
    assert f'data-sale-ends="{ends.strftime("%Y-%m-%dT%H:%M:%SZ")}"' in page
    assert f"Offer ends {datetime_kst(ends, locale='en')} KST" in page
    assert "No reviews yet" in page
    assert re.search(r'<button type="submit" class="add-to-cart">Add to cart</button>', page)  # wired by the cart
    assert 'id="reviews"' in page and 'id="game-rating-summary"' in page
    assert "Add to your wishlist" in page


def test_rating_summary(client, shop):
    game = shop.game("Rated", ratings=(5, 5, 5) + (4,) * 7)
    page = client.get(f"/games/{game.slug}").get_data(as_text=True)
    assert "4.3" in page and "(10 reviews)" in page and "No reviews yet" not in page
    assert "Be the first to review" not in page


def _main(page: str) -> str:
    return re.search(r"<main.*?</main>", page, re.S).group(0)


def test_the_game_page_states_each_fact_once(client, shop):
    action, rpg = shop.category("Action"), shop.tag("RPG")
    game = shop.game("Hollow Knight", category_id=action, tag_ids=[rpg], rating_sum=43, rating_count=10,
                     short_description="Descend into Hallownest.", release_date=date(2017, 2, 24))
    main = _main(client.get(f"/games/{game.slug}").get_data(as_text=True))
    assert main.count("(10 reviews)") == 1 and main.count('class="rating"') == 1
    assert main.count(">2017-02-24<") == 1 and main.count(">Team Cherry<") == 1
    assert main.count('href="/games?tag=rpg"') == 1 and main.count(">Descend into Hallownest.<") == 1
    # The category is in the breadcrumbs; the buy box holds the price and the cart button.
    assert main.count('href="/games?category=action"') == 1
    buy = re.search(r'<section class="purchase-box".*?</section>', main, re.S).group(0)
    assert "Add to cart" in buy and "₩" in buy and "Add to your wishlist" in buy
    unrated = shop.game("Unrated")
    assert _main(client.get(f"/games/{unrated.slug}").get_data(as_text=True)).count("No reviews yet") == 1


def test_old_slug_redirects_permanently(client, shop):
    game = shop.game("Hollow Knight")
    new_slug = shop.update(game.id, title="Hollow Knight Silksong")
    res = client.get("/games/hollow-knight")
    assert res.status_code == 301 and res.headers["Location"].endswith(f"/games/{new_slug}")


def test_delisted_and_unknown_games_are_404(client, shop):
    hidden = shop.game("Delisted", listed=False)
    assert client.get(f"/games/{hidden.slug}").status_code == 404
    assert client.get("/games/never-existed").status_code == 404
    assert client.get("/games/%00").status_code == 400  # NUL refused before routing (shop/web/security.py)
    assert client.get("/games/" + "x" * 5000).status_code == 404


def test_game_detail_is_cached_and_refreshed_after_an_update(client, app, shop, redis):
    game = shop.game("Cached Game", short_description="first words")
    assert "first words" in client.get(f"/games/{game.slug}").get_data(as_text=True)
    assert redis.exists(f"cache:game:{game.id}:detail:en:all") and redis.exists(f"cache:game:{game.id}:body:en:all")
    shop.update(game.id, short_description="second words", price=777)
    assert "first words" in client.get(f"/games/{game.slug}").get_data(as_text=True)  # still cached
    run_jobs(app)
    page = client.get(f"/games/{game.slug}").get_data(as_text=True)
    assert "second words" in page and "₩777" in page and "first words" not in page


def test_renamed_game_shows_its_new_title_right_after_the_job(client, app, shop):
    game = shop.game("Before Rename")
    client.get(f"/games/{game.slug}")
    slug = shop.update(game.id, title="After Rename")
    run_jobs(app)
    res = client.get(f"/games/{game.slug}", follow_redirects=True)
    assert res.request.path == f"/games/{slug}"
    assert "After Rename" in res.get_data(as_text=True) and "Before Rename" not in res.get_data(as_text=True)


def test_cache_key_is_the_documented_one(app):
    assert cache.game_key(5, "detail") == "cache:game:5:detail"
    assert cache.localized(cache.game_key(5, "detail"), "ko") == "cache:game:5:detail:ko:all"


def test_page_numbers_leave_gaps():
    from shop.catalog.storefront import BrowsePage, BrowseQuery

    page = BrowsePage(query=BrowseQuery(), games=[], total=480, page=6, pages=20, category=None, tags=[])
    assert page.page_numbers() == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert BrowsePage(query=BrowseQuery(), games=[], total=0, page=1, pages=1, category=None,
                      tags=[]).page_numbers() == [1]


# --- /games: unknown sorts ----------------------------------------------------------------

UNKNOWN_SORT = re.compile(r'<p [^>]*data-unknown-sort>([^<]*)</p>')


@pytest.mark.parametrize("sort", ["price", "PRICE_ASC", "cheapest", "<b>x</b>"])
def test_an_unknown_sort_gives_the_default_order_and_says_so(client, priced, sort):
    page = client.get("/games", query_string={"sort": sort})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert titles(page) == ["Sale Now", "Sale Later", "Full Price", "Sale Over"]  # best selling
    notice = UNKNOWN_SORT.findall(html)
    assert len(notice) == 1 and "default order (best selling)" in notice[0]
    assert "<b>x</b>" not in html  # shown escaped, as text
    # The htmx list says it too, and the cleaned URL it pushes drops the bad value.
    partial = client.get("/games", query_string={"sort": sort}, headers=HX)
    assert len(UNKNOWN_SORT.findall(partial.get_data(as_text=True))) == 1
    assert partial.headers["HX-Push-Url"] == "/games"


def test_an_unknown_sort_with_a_query_keeps_relevance_and_says_so(client, shop):
    shop.game("Space Trader", sales_count=100)
    shop.game("Space", sales_count=1)
    page = client.get("/games?q=space&sort=price")
    assert titles(page) == titles(client.get("/games?q=space"))
    assert "default order (relevance)" in UNKNOWN_SORT.findall(page.get_data(as_text=True))[0]


@pytest.mark.parametrize("qs", ["", "sort=", "sort=price_asc", "sort=relevance", "sort=bestselling"])
def test_known_or_absent_sorts_show_no_notice(client, priced, qs):
    assert UNKNOWN_SORT.findall(client.get(f"/games?{qs}").get_data(as_text=True)) == []
