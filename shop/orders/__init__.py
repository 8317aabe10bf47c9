"""Orders, payment gateways, refunds and the checkout plug-in registry."""


def register(app):
    from .views import bp

    app.register_blueprint(bp)
