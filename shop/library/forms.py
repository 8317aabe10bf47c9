"""The key pool upload form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class KeyPoolForm(FlaskForm):
    pool = FileField(_l("Key file (CSV)"), validators=[FileRequired(_l("Choose a CSV file."))])
