"""VIP grades and the points ledger."""


def register(app):
    """Points at checkout (after coupons: points apply to what is left to pay) and the account page's card."""
    from . import account, checkout

    checkout.register()
    account.register()
