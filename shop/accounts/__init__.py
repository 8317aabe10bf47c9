"""Users: sign-up, codes, sessions, passwords, avatars, withdrawal."""


def register(app):
    """The accounts blueprint (sign-up, login, the account page) and the Redis copy of sessions."""
    from . import auth_cache, profile_views  # noqa: F401  (profile_views: routes on accounts.bp; auth_cache: listeners)
    from .age_views import bp as age_bp
    from .views import bp

    app.register_blueprint(bp)
    app.register_blueprint(age_bp)
