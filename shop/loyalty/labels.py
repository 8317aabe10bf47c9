"""Grades and point-ledger lines as the reader sees them, in their language.

Rows keep their codes (`BRONZE`, a ledger line's English note, written in SQL by the
monthly grading): these say them again at display time, `{{ grade|grade_name }}` and
`{{ entry|point_note }}` in templates."""
import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

GRADE_NAMES = {"BRONZE": _l("BRONZE"), "SILVER": _l("SILVER"), "GOLD": _l("GOLD"), "VIP": _l("VIP")}

NOTES = {
    "Used at checkout": _l("Used at checkout"),
    "Returned: checkout did not complete": _l("Returned: checkout did not complete"),
    "Returned: order refunded": _l("Returned: order refunded"),
    "Cashback reversed (refund)": _l("Cashback reversed (refund)"),
    "Expired after 12 months": _l("Expired after 12 months"),
}
KINDS = {"earn_grade": _l("Monthly grade bonus"), "earn_cashback": _l("Cashback"), "spend": _l("Used at checkout"),
         "release": _l("Returned: checkout did not complete"), "expire": _l("Expired"), "reverse": _l("Returned")}
MONTHLY_BONUS = re.compile(r"Monthly (\w+) bonus")
CASHBACK = re.compile(r"(\d+)% cashback")


def grade_name(grade: str | None) -> str:
    """'GOLD' → '골드' in Korean; an unknown code shows as it is."""
    name = GRADE_NAMES.get(grade or "")
    return str(name) if name is not None else (grade or "")


def point_note(entry) -> str:
    """What a ledger line says: its note (the English the ledger keeps) in the reader's
    language, else what its kind means."""
    note = entry.note or ""
    if note in NOTES:
        return str(NOTES[note])
    if match := MONTHLY_BONUS.fullmatch(note):
        return _("Monthly %(grade)s bonus", grade=grade_name(match.group(1)))
    if match := CASHBACK.fullmatch(note):
        return _("%(percent)s%% cashback", percent=match.group(1))
    return note or str(KINDS.get(entry.kind, entry.kind))
