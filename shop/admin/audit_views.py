"""Admin: the audit log, newest first, filtered by actor, action prefix, target and
a range of Korean dates."""
from datetime import date, datetime, time, timedelta

from flask import render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from ..web.numbers import paginate
from ..timeutil import SEOUL
from .blueprint import bp
from .forms import AuditSearchForm
from .models import AuditLog
from .users import like, page_arg

PER_PAGE = 50


def seoul_midnight(day: date) -> datetime:
    """The instant a Korean calendar day starts (an aware datetime)."""
    return datetime.combine(day, time.min, tzinfo=SEOUL)


def search_audit(actor: str = "", action: str = "", target_type: str = "", target_id: str = "",
                 date_from: date | None = None, date_to: date | None = None, page: int = 1):
    query = select(AuditLog)
    if actor:
        query = query.where(like(AuditLog.actor_email, actor))
    if action:
        query = query.where(AuditLog.action.startswith(action.lower(), autoescape=True))
    if target_type:
        query = query.where(AuditLog.target_type == target_type.lower())
    if target_id:
        query = query.where(AuditLog.target_id == target_id)
    if date_from:
        query = query.where(AuditLog.created_at >= seoul_midnight(date_from))
    if date_to:  # inclusive: up to the end of that Korean day
        query = query.where(AuditLog.created_at < seoul_midnight(date_to + timedelta(days=1)))
    return paginate(query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()), page, PER_PAGE)


@bp.route("/audit")
def audit():
    form = AuditSearchForm(formdata=request.args)
    valid = form.validate()
    if valid and form.date_from.data and form.date_to.data and form.date_from.data > form.date_to.data:
        form.date_to.errors.append(_("The end date is before the start date."))
        valid = False
    filters = {k: v for k, v in form.data.items() if v} if valid else {}
    pages = search_audit(**filters, page=page_arg())
    # dates go back into the pager's links as ISO strings
    link_args = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in filters.items()}
    return render_template("admin/audit.html", form=form, pages=pages, filters=link_args), 200 if valid else 400
