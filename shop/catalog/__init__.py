"""Games, categories, tags, search, storefront, rankings, wishlist."""


def register(app):
    """The catalog blueprint: its routes span the storefront, search, wishlist and back-office modules."""
    from . import manage_views, search_views, views, wishlist_views  # noqa: F401  (routes on catalog.bp)
    from .blueprint import bp

    app.register_blueprint(bp)
    from .ratings import template_helpers

    app.context_processor(template_helpers)
