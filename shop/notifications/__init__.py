"""Notification rows, their page and their live stream."""


def register(app):
    from .views import bp

    app.register_blueprint(bp)
