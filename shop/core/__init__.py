"""The home page, /healthz and /media."""


def register(app):
    from .views import bp

    app.register_blueprint(bp)
