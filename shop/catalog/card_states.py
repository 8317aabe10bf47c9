"""What a game's buy control shows a viewer: buy, in_cart, owned or unavailable.

Carts and ownership live in layers above the catalog, so the catalog asks whoever
registered (the cart does, from create_app); on its own it only knows what is listed.
"""
_provider = None


def register(provider):
    """`provider(user, games) -> {game id: state}`, for a page of games in a few queries."""
    global _provider
    _provider = provider


def states(user, games) -> dict[int, str]:
    games = list(games)
    if _provider is not None:
        return _provider(user, games)
    return {g.id: "buy" if g.is_listed else "unavailable" for g in games}
