"""Ownership: which games a user owns, granted when an order is paid and revoked on refund."""


def register(app):
    from .views import bp

    app.register_blueprint(bp)
