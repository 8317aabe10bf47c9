"""The cart and its prices."""


def register(app):
    from .views import bp

    app.register_blueprint(bp)
