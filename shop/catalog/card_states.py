"""What a game's buy control shows a viewer: buy, in_cart, owned or unavailable.

Carts and ownership live in layers above the catalog, so the catalog asks whoever
registered (the cart does, from create_app); on its own it only knows what is listed.
"""
_provider = None
_marks = None


def register(provider, marks=None):
    """`provider(user, games) -> {game id: state}`, for a page of games in a few queries;
    `marks(user, game ids) -> {game id: "owned" | "in_cart"}`, the viewer's own part of
    those states, for filling a shared cached page (overlay.py)."""
    global _provider, _marks
    _provider, _marks = provider, marks


def viewer_marks(user, game_ids) -> dict[int, str] | None:
    """Which of `game_ids` the user owns or has in the cart (nothing when no one registered).
    `game_ids=None`: all of them, or None when there are too many to keep."""
    if game_ids is not None:
        game_ids = list(game_ids)
    if _marks is None or game_ids == [] or not getattr(user, "is_authenticated", False):
        return {}
    return _marks(user, game_ids)


def states(user, games) -> dict[int, str]:
    games = list(games)
    if _provider is not None:
        return _provider(user, games)
    return {g.id: "buy" if g.is_listed else "unavailable" for g in games}
