"""Age ratings on the store front: the publisher sets them, every card and page shows
them, and adults-only covers are replaced by the 19 placeholder for anyone who isn't a
verified adult (anonymous visitors too), in lists and on the game page. Coming-soon
games show their date."""
from datetime import date, timedelta

import pytest
from sqlalchemy import update

from shop.accounts.models import User
from shop.catalog import services
from shop.catalog.models import Game
from shop.extensions import db
from shop.timeutil import seoul_today

from ..support.orders import ShopBrowser, Shopper, new_game
from .test_manage_views import errors, game_form, log_in_as

ADULT_COVER = "covers/adult-only-cover.png"
TEEN_COVER = "covers/teen-cover.png"


@pytest.fixture
def games(app):
    adult = new_game(app, "Night Club Tycoon", price=30000, age_rating="19")
    teen = new_game(app, "Rocket League Jr", price=10000, age_rating="15")
    with app.app_context():
        db.session.execute(update(Game).where(Game.id == adult).values(cover_key=ADULT_COVER, featured=True))
        db.session.execute(update(Game).where(Game.id == teen).values(cover_key=TEEN_COVER, featured=True))
        db.session.commit()
        slug = db.session.get(Game, adult).slug
    return adult, teen, slug


def viewer(app, make_user, who):
    if who == "anonymous":
        return ShopBrowser(app)
    birth = {"minor": date(seoul_today().year - 15, 3, 1), "unverified": None,
             "adult": date(1990, 3, 1)}[who]
    return Shopper(app, make_user(birth_date=birth)).browser


LIST_PAGES = ["/games", "/games?q=Tycoon", "/", "/search?q=Tycoon"]


@pytest.mark.parametrize("who", ["anonymous", "unverified", "minor"])
@pytest.mark.parametrize("url", LIST_PAGES)
def test_no_adult_cover_in_lists_for_anyone_but_a_verified_adult(app, make_user, games, who, url):
    browser = viewer(app, make_user, who)
    res = browser.get(url)
    if res.status_code == 404:
        pytest.skip(f"{url} is not a page here")
    page = res.get_data(as_text=True)
    assert "Night Club Tycoon" in page
    assert ADULT_COVER not in page
    assert 'class="grac-19"' in page
    if url in ("/games", "/"):
        assert TEEN_COVER in page  # only the adults-only game is hidden


@pytest.mark.parametrize("url", LIST_PAGES)
def test_a_verified_adult_sees_the_cover(app, make_user, games, url):
    res = viewer(app, make_user, "adult").get(url)
    if res.status_code == 404:
        pytest.skip(f"{url} is not a page here")
    assert ADULT_COVER in res.get_data(as_text=True)


def test_the_cache_keeps_adult_and_minor_pages_apart(app, make_user, games):
    """The adult renders (and caches) first; the anonymous visitor must not get that copy."""
    adult, _teen, slug = games
    assert ADULT_COVER in viewer(app, make_user, "adult").get("/games").get_data(as_text=True)
    assert ADULT_COVER in viewer(app, make_user, "adult").get(f"/games/{slug}").get_data(as_text=True)
    anonymous = ShopBrowser(app)
    assert ADULT_COVER not in anonymous.get("/games").get_data(as_text=True)
    assert ADULT_COVER not in anonymous.get(f"/games/{slug}").get_data(as_text=True)
    assert ADULT_COVER not in anonymous.get("/").get_data(as_text=True)


def test_every_card_and_the_game_page_show_the_rating(app, make_user, games):
    _adult, _teen, slug = games
    browser = ShopBrowser(app)
    listing = browser.get("/games").get_data(as_text=True)
    assert 'class="age-badge age-19"' in listing and 'class="age-badge age-15"' in listing
    assert "Adults only (19+)" in listing and "15+" in listing
    page = browser.get(f"/games/{slug}").get_data(as_text=True)
    assert "Age rating" in page and 'class="age-badge age-19"' in page


def test_the_korean_badges_use_the_grac_names(app, make_user, games):
    korean = Shopper(app, make_user(locale="ko")).browser
    listing = korean.get("/games").get_data(as_text=True)
    assert "청소년이용불가" in listing and "15세이용가" in listing


def test_the_publisher_sets_rating_and_pre_orders(app, browser, make_user):
    owner = make_user(role="publisher")
    log_in_as(app, browser, owner.id)
    res = browser.post("/publisher/games/new", game_form(age_rating="19", preorder_allowed="y",
                                                         release_date=(seoul_today() + timedelta(days=30)).isoformat()))
    assert res.status_code == 302, errors(res)
    with app.app_context():
        game = db.session.scalar(db.select(Game).where(Game.publisher_id == owner.id))
        assert game.age_rating == "19" and game.preorder_allowed and game.release_announced_at is None
        game_id = game.id
    res = browser.post(f"/publisher/games/{game_id}/edit", game_form(age_rating="12"))
    assert res.status_code == 302, errors(res)
    with app.app_context():
        game = db.session.get(Game, game_id)
        assert game.age_rating == "12" and not game.preorder_allowed  # an unticked box turns it off


def test_an_unknown_rating_is_refused_and_changes_nothing(app, browser, make_user):
    owner = make_user(role="publisher")
    game_id = new_game(app, "Quiet Farm", publisher_id=owner.id, age_rating="all")
    log_in_as(app, browser, owner.id)
    res = browser.post(f"/publisher/games/{game_id}/edit", game_form(age_rating="18"))
    assert res.status_code == 400 and "Not a valid choice" in errors(res)
    with app.app_context():
        assert db.session.get(Game, game_id).age_rating == "all"
    with app.app_context():
        with pytest.raises(services.InvalidGame):
            services.update_game(db.session.get(User, owner.id), db.session.get(Game, game_id),
                                 services.GameInput(title="Quiet Farm", price=1000, age_rating="21"))


def test_another_publisher_cannot_change_the_rating(app, browser, make_user):
    game_id = new_game(app, "Quiet Farm", age_rating="all")
    log_in_as(app, browser, make_user(role="publisher").id)
    assert browser.post(f"/publisher/games/{game_id}/edit", game_form(age_rating="19")).status_code == 403
    with app.app_context():
        assert db.session.get(Game, game_id).age_rating == "all"


def test_a_coming_soon_game_shows_its_date(app, make_user):
    release = seoul_today() + timedelta(days=20)
    slug_game = new_game(app, "Star Harbor", release_date=release, preorder_allowed=True)
    closed = new_game(app, "Moon Harbor", release_date=release)
    browser = ShopBrowser(app)
    with app.app_context():
        slugs = [db.session.get(Game, i).slug for i in (slug_game, closed)]
    page = browser.get(f"/games/{slugs[0]}").get_data(as_text=True)
    assert "Coming soon" in page and release.strftime("%b") in page and "Pre-order now" in page
    page = browser.get(f"/games/{slugs[1]}").get_data(as_text=True)
    assert "Coming soon" in page and "Add it to your wishlist" in page
    listing = browser.get("/games").get_data(as_text=True)
    assert listing.count("Coming soon:") >= 2
