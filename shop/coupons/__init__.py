"""First-come coupon drops: the Lua claim, persistence, the wallet."""


def register(app):
    """The coupons blueprint (drops, claims, the wallet) and its checkout plug-in."""
    from . import lag, wallet
    from .views import bp

    app.register_blueprint(bp)
    wallet.register()
    lag.register()  # /metrics: the consumer's lag from stream to database
