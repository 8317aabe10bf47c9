"""Orders, payment gateways, refunds and the checkout plug-in registry."""


def register(app):
    """The orders blueprint, and product keys as the first checkout plug-in: a keyed
    game's key is reserved with the order, assigned when paid, put back when the order
    ends unpaid and voided on refund, of the whole order or of that game
    (shop/library/keys.py). The refund window is the first refund rule, the download limit
    (shop/library/downloads.py) the second."""
    from ..library import downloads, keys
    from . import hooks, refund_rules
    from .views import bp

    app.register_blueprint(bp)
    hooks.register("product_keys", reserved=keys.reserve, paid=keys.assign, released=keys.release,
                   refunded=keys.void, line_refunded=keys.void_line)
    refund_rules.register(refund_rules.within_window)
    refund_rules.register(refund_rules.download_limit(downloads.download_count))
