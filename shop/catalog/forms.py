"""Catalog management forms: lengths, formats and time zones are handled here; the
rules that need the database (sale below price, category exists) live in services."""
from datetime import timezone

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (DateField, DateTimeLocalField, IntegerField, SelectField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..timeutil import SEOUL
from .services import GameInput

MAX_PRICE = 10_000_000
# What a datetime-local input sends (minutes, seconds when the browser adds them).
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _int_or_none(value):
    return None if value in (None, "", "None") else int(value)


def _price(label, required=True):
    presence = InputRequired("Enter a price in whole won (0 for free).") if required else Optional()
    return IntegerField(label, validators=[presence, NumberRange(
        0, MAX_PRICE, message=f"Prices are whole won from ₩0 to ₩{MAX_PRICE:,}.")],
        render_kw={"min": 0, "max": MAX_PRICE, "step": 1, "inputmode": "numeric"})


def _kst(label):
    # The browser sends a wall-clock time without a zone; the store works in Korea time.
    return DateTimeLocalField(label, format=LOCAL_FORMATS, tz=SEOUL, validators=[Optional()],
                              invalid_value_message="Enter a date and time, e.g. 2026-12-24 09:00.")


class GameForm(FlaskForm):
    title = StringField("Title", filters=[_strip], render_kw={"maxlength": 120}, validators=[
        DataRequired("Give the game a title."), Length(max=120, message="Titles are at most 120 characters.")])
    short_description = TextAreaField("Short description", filters=[_strip], render_kw={"maxlength": 300, "rows": 2},
                                      validators=[Length(max=300, message="At most 300 characters.")])
    description = TextAreaField("Description", render_kw={"rows": 12}, validators=[
        Length(max=20_000, message="The description is at most 20,000 characters.")])
    price = _price("Price (₩)")
    sale_price = _price("Sale price (₩)", required=False)
    sale_starts_at = _kst("Sale starts (KST)")
    sale_ends_at = _kst("Sale ends (KST)")
    release_date = DateField("Release date", validators=[Optional()])
    category_id = SelectField("Category", coerce=_int_or_none, validate_choice=True)
    tag_ids = SelectMultipleField("Tags", coerce=int, widget=ListWidget(prefix_label=False),
                                  option_widget=CheckboxInput(),
                                  invalid_choice_message="Choose tags from the list.")

    def set_choices(self, categories, tags):
        self.category_id.choices = [("", "No category")] + [(c.id, c.name) for c in categories]
        self.tag_ids.choices = [(t.id, t.name) for t in tags]

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
            tag_ids=list(self.tag_ids.data or []),
        )


def _utc(value):
    return value.astimezone(timezone.utc) if value is not None else None


class CoverForm(FlaskForm):
    cover = FileField("Cover image", validators=[FileRequired("Choose an image.")])


class ScreenshotForm(FlaskForm):
    screenshot = FileField("Screenshot", validators=[FileRequired("Choose an image.")])


class TermForm(FlaskForm):
    """A category or tag name; its slug is made from the name."""
    name = StringField("Name", filters=[_strip], render_kw={"maxlength": 40}, validators=[
        DataRequired("Enter a name."), Length(max=40, message="Names are at most 40 characters.")])


class CategoryForm(TermForm):
    pass


class TagForm(TermForm):
    pass
