"""The key pool upload form."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class KeyPoolForm(FlaskForm):
    pool = FileField("Key file (CSV)", validators=[FileRequired("Choose a CSV file.")])
