"""One rule for numbers that come from outside (paths, query strings, forms, headers).

Only plain ASCII digits of bounded length are numbers. `str.isdigit()` and `int()` are
not that test: "²" passes isdigit() and then int() raises, "١٢" is 12 to int(), and
int() refuses strings past 4,300 digits with an error. Ids also have to fit the INTEGER
columns: PostgreSQL raises NumericValueOutOfRange for an id >= 2**31, and an OFFSET past
a bigint overflows. So:

- a path segment (`<int:...>`, see IdConverter) that is not 0..MAX_ID in ASCII digits
  matches no rule: 404;
- a query, form or header value goes through parse_int: not a valid number -> None, which
  the caller turns into a field error or ignores;
- a page number goes through page_number, and paginate() shows the last page for one
  past it.
"""
from werkzeug.routing import IntegerConverter, ValidationError

from ..extensions import db

MAX_ID = 2**31 - 1            # the INTEGER primary keys (SQLite's are wider; PostgreSQL's are not)
MAX_PAGE = 100_000            # deeper than any list we show; keeps OFFSET small
_MAX_DIGITS = 19              # 2**63 - 1: no caller needs more, and int() of it is cheap


def parse_int(value, lo: int, hi: int) -> int | None:
    """`value` (a str, or None) as an int in lo..hi, or None when it is absent, not plain
    ASCII digits (surrounding spaces allowed), longer than 19 digits, or out of range."""
    if value is None:
        return None
    text = str(value).strip()
    if not (0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if lo <= number <= hi else None


def page_number(value, last: int = MAX_PAGE) -> int:
    """A 1-based page from the query string: 1 when absent or not a number, `last`
    when past it (paginate() then shows the real last page)."""
    text = str(value or "").strip().lstrip("0")
    if not (text.isascii() and text.isdigit()):
        return 1
    return last if len(text) > len(str(last)) else min(int(text), last)


def paginate(query, page: int, per_page: int):
    """db.paginate for a page number from outside: bounded by MAX_PAGE, and a page past
    the last shows the last page (one more query, only then)."""
    page = min(max(page, 1), MAX_PAGE)
    pages = db.paginate(query, page=page, per_page=per_page, error_out=False)
    if page > 1 and page > pages.pages:
        pages = db.paginate(query, page=max(pages.pages, 1), per_page=per_page, error_out=False)
    return pages


class IdConverter(IntegerConverter):
    """The app's `<int:...>` converter: ASCII digits only (werkzeug's `\\d` also matches
    other scripts' digits), at most 10 of them, value 0..MAX_ID. Anything else matches no
    rule, so the answer is a 404 before a view or the database sees it. 0 stays valid for
    rq-dashboard's `<int:instance_number>`; no table has a row 0, so lookups 404 anyway."""

    regex = r"[0-9]+"

    def __init__(self, map, fixed_digits: int = 0, min: int | None = 0, max: int | None = MAX_ID,
                 signed: bool = False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str):
        if len(value.lstrip("-")) > len(str(MAX_ID)):
            raise ValidationError()  # before int(): thousands of digits are slow or refused
        return super().to_python(value)


def init_app(app):
    """Make IdConverter the `int` converter; call before any route is added."""
    app.url_map.converters["int"] = IdConverter
