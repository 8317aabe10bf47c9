"""Catalog services: slugs, search text, sale announcements, search backends."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.catalog import services
from shop.catalog.models import Game, Tag, WishlistItem
from shop.catalog.search import search_ids
from shop.catalog.tasks import announce_started_sales
from shop.extensions import db
from shop.notifications.models import Notification
from shop.timeutil import utcnow
from shop.web.i18n import in_locale

from ..support.accounts import make_user


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def _publisher():
    from shop.accounts.models import User

    return db.session.get(User, make_user(role="publisher").id)


def _game(publisher, title="Stardew Valley", price=16000, **kw):
    return services.create_game(publisher, services.GameInput(title=title, price=price, **kw))


def test_title_change_gets_new_slug_and_old_one_redirects(ctx):
    pub = _publisher()
    game = _game(pub, "Hollow Knight")
    assert game.slug == "hollow-knight"
    services.update_game(pub, game, services.GameInput(title="Hollow Knight: Silksong", price=20000))
    assert game.slug == "hollow-knight-silksong"
    assert services.find_game("hollow-knight") == (None, "hollow-knight-silksong")
    assert services.find_game("hollow-knight-silksong")[0].id == game.id


def test_duplicate_titles_get_distinct_slugs_and_korean_stays(ctx):
    pub = _publisher()
    a, b = _game(pub, "젤다의 전설"), _game(pub, "젤다의 전설")
    assert a.slug == "젤다의-전설" and b.slug == "젤다의-전설-2"


def test_only_owner_or_admin_may_update(ctx):
    from shop.accounts.models import User

    pub, other = _publisher(), _publisher()
    admin = db.session.get(User, make_user(role="admin").id)
    game = _game(pub)
    with pytest.raises(services.NotOwner):
        services.update_game(other, game, services.GameInput(title="Hacked", price=0))
    services.update_game(admin, game, services.GameInput(title="Fixed by admin", price=100))
    assert game.title == "Fixed by admin"


@pytest.mark.parametrize("kw,message", [
    (dict(price=-1), "between"),
    (dict(price=1000, sale_price=1000), "lower than"),
    (dict(price=1000, sale_price=500, sale_starts_at=utcnow(), sale_ends_at=utcnow() - timedelta(days=1)), "end after"),
    (dict(price=1000, sale_starts_at=utcnow()), "sale price"),
])
def test_invalid_game_input_changes_nothing(ctx, kw, message):
    pub = _publisher()
    with pytest.raises(services.InvalidGame, match=message), in_locale("en"):  # Korean by default
        services.create_game(pub, services.GameInput(title="Bad", **kw))
    assert db.session.scalar(select(Game).where(Game.title == "Bad")) is None


def test_search_finds_prefixes_case_and_accent_insensitively(ctx):
    pub = _publisher()
    rpg = db.session.scalar(select(Tag).where(Tag.slug == "rpg"))
    if rpg is None:
        rpg = Tag(name="RPG", slug="rpg")
        db.session.add(rpg)
        db.session.commit()
    poke = _game(pub, "Pokémon Legends", tag_ids=[rpg.id])
    zelda = _game(pub, "젤다의 전설 야생의 숨결")
    _game(pub, "Unrelated Racing")
    assert search_ids("pokemon").ids == [poke.id]
    assert search_ids("POKÉ").ids == [poke.id]
    assert search_ids("leg pok").ids == [poke.id]
    assert search_ids("rpg").ids == [poke.id]  # tags are searchable
    assert search_ids("젤다").ids == [zelda.id]
    assert search_ids("야생의 숨").ids == [zelda.id]
    assert search_ids("nothing-like-this").ids == []


@pytest.mark.parametrize("q", ["", "a", "x" * 500, '"NEAR(', "%", "_", "' OR 1=1 --", "a AND OR NOT",
                               "col:val", "*", "^x", "(((", "\x00", "🎮"])
def test_hostile_queries_never_error(ctx, q):
    _game(_publisher(), "Something")
    assert isinstance(search_ids(q).ids, list)


def test_delisted_games_are_not_found(ctx):
    pub = _publisher()
    game = _game(pub, "Hidden Gem")
    services.set_listed(pub, game, False)
    assert search_ids("hidden").ids == []
    assert services.find_game(game.slug) == (None, None)
    assert services.find_game(game.slug, include_delisted=True)[0].id == game.id


def test_wishers_are_told_once_when_a_sale_starts(ctx):
    pub = _publisher()
    fan = make_user()
    game = _game(pub, "Celeste", price=20000)
    db.session.add(WishlistItem(user_id=fan.id, game_id=game.id))
    db.session.commit()
    later = utcnow() + timedelta(hours=1)
    services.update_game(pub, game, services.GameInput(title="Celeste", price=20000, sale_price=10000,
                                                       sale_starts_at=later))
    assert announce_started_sales() == 0  # not started yet
    game.sale_starts_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert announce_started_sales() == 1
    assert announce_started_sales() == 0  # once
    note = db.session.scalar(select(Notification).where(Notification.user_id == fan.id))
    assert note.kind == "wishlist_sale" and note.params == {"title": "Celeste", "price": 10000, "percent": 50}
