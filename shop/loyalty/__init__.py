"""VIP grades and the points ledger."""


def register(app):
    """Points at checkout (after coupons: points apply to what is left to pay), the account
    page's card and /grades."""
    from . import account, checkout
    from .views import bp

    app.register_blueprint(bp)

    checkout.register()
    account.register()
