"""Reviews by owners, likes and publisher replies."""


def register(app):
    from .views import bp

    app.register_blueprint(bp)
