"""Forms every domain uses."""
from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """For buttons that only need CSRF protection."""
