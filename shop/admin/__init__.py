"""Admin console and publisher dashboard."""


def register(app):
    from . import audit_views, coupons, dashboard, emails, games, jobs, live, orders, publisher, users, waiting  # noqa: F401  (routes)
    from .audit import shown_changes
    from .labels import label
    from .blueprint import bp, publisher_bp

    app.register_blueprint(bp)
    app.register_blueprint(publisher_bp)

    @app.context_processor
    def _admin_endpoints():
        # The admin nav links only the sections that exist (sections land one by one).
        return {"admin_endpoints": lambda: app.view_functions.keys()}

    app.jinja_env.globals["audit_changes"] = shown_changes
    app.jinja_env.globals["admin_label"] = label
