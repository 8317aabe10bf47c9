"""Gifts: a game bought for someone else by email, claimed into their library."""


def register(app):
    """The gifts blueprint and its checkout plug-in: paying an order with a gift line
    creates the claimable gift (and its email); a refund marks it refunded."""
    from ..orders import hooks
    from . import services
    from .views import bp

    app.register_blueprint(bp)
    hooks.register("gift", paid=services.on_paid, refunded=services.on_refunded)
