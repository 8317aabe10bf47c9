"""Admin: the email log (filter by status, kind and recipient) and resending failed mail."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..web.forms import EmptyForm
from ..web.numbers import page_number, paginate
from ..extensions import db
from ..infra.mail import SUBJECTS, EmailLog, NotResendable, resend_email
from .audit import record
from .blueprint import bp
from .labels import label

STATUSES = ("queued", "retrying", "sent", "failed")
PER_PAGE = 50
MAX_RECIPIENT = 254


def _filters() -> dict:
    """The filters from the query string; anything unknown is ignored (no filter)."""
    status = request.args.get("status", "")
    kind = request.args.get("kind", "")
    recipient = request.args.get("recipient", "").strip()[:MAX_RECIPIENT]
    return {"status": status if status in STATUSES else "", "kind": kind if kind in SUBJECTS else "",
            "recipient": recipient}


@bp.route("/emails")
def emails():
    filters = _filters()
    q = select(EmailLog)
    if filters["status"]:
        q = q.where(EmailLog.status == filters["status"])
    if filters["kind"]:
        q = q.where(EmailLog.kind == filters["kind"])
    if filters["recipient"]:
        # Addresses are stored lower-cased; a part of one finds it ("@example.com").
        needle = filters["recipient"].lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(func.lower(EmailLog.recipient).like(f"%{needle}%", escape="\\"))
    pages = paginate(q.order_by(EmailLog.id.desc()), page_number(request.args.get("page")), PER_PAGE)
    counts = dict(db.session.execute(select(EmailLog.status, func.count()).group_by(EmailLog.status)).all())
    args = {k: v for k, v in filters.items() if v}
    return render_template("admin/emails.html", pages=pages, filters=filters, args=args, counts=counts,
                           statuses=STATUSES, kinds=sorted(SUBJECTS), form=EmptyForm())


@bp.route("/emails/<int:email_id>/resend", methods=["POST"])
def email_resend(email_id):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    entry = db.session.get(EmailLog, email_id)
    if entry is None:
        abort(404)
    try:
        resend_email(entry)
    except NotResendable:
        # The mail module says why in English; the admin reads it in their language.
        flash(_("Only failed emails can be resent; this one is %(status)s.",
                status=label("email_status", entry.status).lower()) if entry.status != "failed"
              else _("This email's content is gone; it can't be resent."), "error")
    else:
        record("email.resend", entry, target_type="email", label=f"{entry.kind} → {entry.recipient}",
               before={"status": "failed"}, after={"status": "queued"})
        db.session.commit()
        flash(_("Email #%(id)s to %(recipient)s queued again.", id=entry.id, recipient=entry.recipient), "success")
    back = request.form.get("next", "")
    if not back.startswith("/admin/emails") or back.startswith("//"):
        back = url_for("admin.emails")
    return redirect(back)
