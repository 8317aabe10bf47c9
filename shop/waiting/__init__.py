"""Waiting rooms: a line in front of a coupon drop, a game's launch or a set of paths
(Cloudflare Waiting Room's model; docs/waiting-room.md)."""


def register(app):
    """The waiting page and its stream, and the gate in front of the guarded paths."""
    from . import gate, gauges
    from .views import bp

    app.register_blueprint(bp)
    gate.init_app(app)
    gauges.init_app(app)
