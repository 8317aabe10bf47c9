"""Notification rows, their page and their live stream."""


def register(app):
    from .messages import text_of
    from .views import bp

    app.register_blueprint(bp)
    app.add_template_filter(text_of, "notice")  # {{ row|notice }}: its text, in the reader's language
