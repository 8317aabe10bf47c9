"""Factories for catalog data used by cart/order tests."""
from shop.accounts.models import User
from shop.catalog import services as catalog
from shop.extensions import db

from .accounts import make_user


def make_game(title="Test Game", price=20000, publisher_id=None, **kw):
    """Create a listed game (inside an app context) and return its id."""
    if publisher_id is None:
        publisher_id = make_user(role="publisher").id
    publisher = db.session.get(User, publisher_id)
    game = catalog.create_game(publisher, catalog.GameInput(title=title, price=price, **kw))
    return game.id
