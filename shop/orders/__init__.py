"""Orders, payment gateways, refunds and the checkout plug-in registry."""


def register(app):
    """The orders blueprint, and product keys as the first checkout plug-in: a keyed
    game's key is reserved with the order, assigned when paid, put back when the order
    ends unpaid and voided on refund (shop/library/keys.py)."""
    from ..library import keys
    from . import hooks
    from .views import bp

    app.register_blueprint(bp)
    hooks.register("product_keys", reserved=keys.reserve, paid=keys.assign, released=keys.release,
                   refunded=keys.void)
