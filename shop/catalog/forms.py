"""Catalog management forms: lengths, formats and time zones are handled here; the
rules that need the database (sale below price, category exists) live in services."""
from datetime import timezone

from flask_babel import LazyString, gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, DateField, DateTimeLocalField, IntegerField, SelectField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..timeutil import SEOUL
from ..web.i18n import won
from .ratings import RATINGS
from .services import GameInput

MAX_PRICE = 10_000_000
# What a datetime-local input sends (minutes, seconds when the browser adds them).
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _int_or_none(value):
    return None if value in (None, "", "None") else int(value)


def _price_range_message() -> str:
    return _("Prices are whole won from %(low)s to %(high)s.", low=won(0), high=won(MAX_PRICE))


def _price(label, required=True):
    presence = InputRequired(_l("Enter a price in whole won (0 for free).")) if required else Optional()
    return IntegerField(label, validators=[presence, NumberRange(
        0, MAX_PRICE, message=LazyString(_price_range_message))],
        render_kw={"min": 0, "max": MAX_PRICE, "step": 1, "inputmode": "numeric"})


def _kst(label):
    # The browser sends a wall-clock time without a zone; the store works in Korea time.
    return DateTimeLocalField(label, format=LOCAL_FORMATS, tz=SEOUL, validators=[Optional()],
                              invalid_value_message=_l("Enter a date and time, e.g. 2026-12-24 09:00."))


class GameForm(FlaskForm):
    title = StringField(_l("Title"), filters=[_strip], render_kw={"maxlength": 120}, validators=[
        DataRequired(_l("Give the game a title.")), Length(max=120, message=_l("Titles are at most 120 characters."))])
    short_description = TextAreaField(_l("Short description"), filters=[_strip],
                                      render_kw={"maxlength": 300, "rows": 2},
                                      validators=[Length(max=300, message=_l("At most 300 characters."))])
    description = TextAreaField(_l("Description"), render_kw={"rows": 12}, validators=[
        Length(max=20_000, message=_l("The description is at most 20,000 characters."))])
    price = _price(_l("Price (₩)"))
    sale_price = _price(_l("Sale price (₩)"), required=False)
    sale_starts_at = _kst(_l("Sale starts (KST)"))
    sale_ends_at = _kst(_l("Sale ends (KST)"))
    release_date = DateField(_l("Release date"), validators=[Optional()])
    age_rating = SelectField(_l("Age rating"), choices=RATINGS, default="all", validate_choice=True)
    preorder_allowed = BooleanField(_l("Allow pre-orders"))
    category_id = SelectField(_l("Category"), coerce=_int_or_none, validate_choice=True)
    base_game_id = SelectField(_l("DLC of"), coerce=_int_or_none, validate_choice=True,
                               description=_l("A DLC can only be bought by owners of its base game."))
    tag_ids = SelectMultipleField(_l("Tags"), coerce=int, widget=ListWidget(prefix_label=False),
                                  option_widget=CheckboxInput(),
                                  invalid_choice_message=_l("Choose tags from the list."))

    def set_choices(self, categories, tags):
        self.category_id.choices = [("", _("No category"))] + [(c.id, c.label) for c in categories]
        self.tag_ids.choices = [(t.id, t.label) for t in tags]
        self.base_game_id.choices = [("", _("Not DLC: a game of its own"))]

    def set_base_choices(self, games):
        """The games this one can be DLC of (the publisher's own base games)."""
        self.base_game_id.choices = [("", _("Not DLC: a game of its own"))] + [(g.id, g.title) for g in games]

    @classmethod
    def for_game(cls, game, **kwargs):
        """A form filled from a saved game (times are shown in KST by the fields)."""
        return cls(formdata=None, obj=game, tag_ids=[t.id for t in game.tags], **kwargs)

    def to_input(self) -> GameInput:
        return GameInput(
            title=self.title.data, price=self.price.data,
            short_description=self.short_description.data or "",
            description=(self.description.data or "").replace("\r\n", "\n"),
            sale_price=self.sale_price.data,
            sale_starts_at=_utc(self.sale_starts_at.data), sale_ends_at=_utc(self.sale_ends_at.data),
            release_date=self.release_date.data, category_id=self.category_id.data,
            tag_ids=list(self.tag_ids.data or []), base_game_id=self.base_game_id.data,
            age_rating=self.age_rating.data or "all", preorder_allowed=bool(self.preorder_allowed.data),
        )


def _utc(value):
    return value.astimezone(timezone.utc) if value is not None else None


class CoverForm(FlaskForm):
    cover = FileField(_l("Cover image"), validators=[FileRequired(_l("Choose an image."))])


class ScreenshotForm(FlaskForm):
    screenshot = FileField(_l("Screenshot"), validators=[FileRequired(_l("Choose an image."))])


class TermKoreanForm(FlaskForm):
    """A category's or tag's Korean name: what Korean pages show (empty: the English name)."""
    name_ko = StringField(_l("Korean name"), filters=[_strip], render_kw={"maxlength": 40}, validators=[
        Optional(), Length(max=40, message=_l("Names are at most 40 characters."))])


class TermForm(TermKoreanForm):
    """A category or tag name; its slug is made from the name."""
    name = StringField(_l("Name"), filters=[_strip], render_kw={"maxlength": 40}, validators=[
        DataRequired(_l("Enter a name.")), Length(max=40, message=_l("Names are at most 40 characters."))])


class CategoryForm(TermForm):
    pass


class TagForm(TermForm):
    pass
