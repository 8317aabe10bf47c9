"""Social login: Google (OpenID Connect), GitHub, Kakao and Naver (OAuth 2) through Authlib.

`providers` turns configuration into an Authlib registry and a provider's answer into a
`SocialProfile`; `services` decides what a profile means (log in, sign up, prove an
existing account, link, unlink); `views` and `step_views` are the web side.
"""


def register(app):
    from . import step_views  # noqa: F401  (routes on social.bp)
    from .views import bp

    app.register_blueprint(bp)
