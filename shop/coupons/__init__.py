"""First-come coupon drops: the Lua claim, persistence, the wallet."""


def register(app):
    """The coupons blueprint (drops, claims, the wallet, the admin screens) and its checkout plug-in."""
    from . import admin_views, wallet  # noqa: F401  (admin_views: routes on coupons.bp)
    from .views import bp

    app.register_blueprint(bp)
    wallet.register()
