"""The key pool upload form; a new build's form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from ..infra.wording import PLATFORMS
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length


class KeyPoolForm(FlaskForm):
    pool = FileField(_l("Key file (CSV)"), validators=[FileRequired(_l("Choose a CSV file."))])


class BuildForm(FlaskForm):
    """A new build: what the page's script sends before the first byte (docs/builds.md)."""
    version = StringField(_l("Version"), validators=[InputRequired(_l("Give the build a version.")),
                                                     Length(max=40, message=_l("At most %(max)d characters."))])
    platform = SelectField(_l("Platform"), choices=list(PLATFORMS.items()),
                           validators=[InputRequired(_l("Choose a platform."))])
    notes = TextAreaField(_l("Release notes"), validators=[Length(max=5000, message=_l("At most %(max)d characters."))])
    filename = HiddenField(validators=[Length(max=500)])
    size = HiddenField()


class CompleteForm(FlaskForm):
    sha256 = HiddenField(validators=[InputRequired()])
