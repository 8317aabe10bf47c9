"""Ownership: which games a user owns, granted when an order is paid and revoked on refund."""


def register(app):
    from . import build_views  # noqa: F401  (its routes join the library blueprint)
    from .views import bp

    app.register_blueprint(bp)
