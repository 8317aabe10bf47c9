"""Admin: create and edit coupon events."""
from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from ..accounts.decorators import role_required
from ..accounts.models import User
from ..catalog.models import Tag
from ..extensions import db
from ..timeutil import SEOUL, to_seoul
from . import services
from .forms import EventForm
from .models import CouponEvent
from .views import bp


def _kst_to_utc(value):
    from datetime import timezone

    return value.replace(tzinfo=SEOUL).astimezone(timezone.utc) if value else None


def _choices(form):
    form.scope_tag_id.choices = [(0, "Any game")] + [(t.id, t.name) for t in db.session.scalars(select(Tag).order_by(Tag.name))]
    form.scope_publisher_id.choices = [(0, "Any publisher")] + [
        (u.id, u.nickname) for u in db.session.scalars(select(User).where(User.role == "publisher").order_by(User.nickname))]


def _show_error(form, exc: services.CouponError):
    """Put the service's complaint under the field it is about."""
    field = getattr(form, exc.field, None) or form.name
    field.errors = [*field.errors, exc.message]


def _input(form) -> services.EventInput:
    return services.EventInput(
        name=form.name.data.strip(), description=(form.description.data or "").strip(),
        discount_type=form.discount_type.data, discount_value=form.discount_value.data,
        discount_cap=form.discount_cap.data, min_order_amount=form.min_order_amount.data or 0,
        quantity=form.quantity.data, opens_at=_kst_to_utc(form.opens_at.data), closes_at=_kst_to_utc(form.closes_at.data),
        valid_days=form.valid_days.data, valid_until=_kst_to_utc(form.valid_until.data),
        scope_tag_id=form.scope_tag_id.data or None, scope_publisher_id=form.scope_publisher_id.data or None)


@bp.route("/admin/coupons", methods=["GET", "POST"])
@role_required("admin")
def admin_events():
    form = EventForm()
    _choices(form)
    status = 200
    if form.validate_on_submit():
        try:
            event = services.create_event(_input(form))
        except services.CouponError as exc:
            _show_error(form, exc)
            status = 400
        else:
            flash(f"Coupon event “{event.name}” created.", "success")
            return redirect(url_for("coupons.admin_events"))
    elif form.is_submitted():
        status = 400
    events = db.session.scalars(select(CouponEvent).order_by(CouponEvent.opens_at.desc())).all()
    rows = [(e, services.issued_count(e.id), services.remaining(e)) for e in events]
    return render_template("coupons/admin_events.html", form=form, rows=rows), status


@bp.route("/admin/coupons/<int:event_id>", methods=["GET", "POST"])
@role_required("admin")
def admin_edit(event_id):
    event = db.session.get(CouponEvent, event_id)
    if event is None:
        abort(404)
    form = EventForm(obj=event) if not EventForm().is_submitted() else EventForm()
    _choices(form)
    if not form.is_submitted():
        for name in ("opens_at", "closes_at", "valid_until"):
            value = getattr(event, name)
            getattr(form, name).data = to_seoul(value).replace(tzinfo=None) if value else None
        form.scope_tag_id.data = event.scope_tag_id or 0
        form.scope_publisher_id.data = event.scope_publisher_id or 0
    status = 200
    if form.validate_on_submit():
        try:
            services.update_event(event, _input(form))
        except services.CouponError as exc:
            _show_error(form, exc)
            status = 400
        else:
            flash("Saved.", "success")
            return redirect(url_for("coupons.admin_events"))
    elif form.is_submitted():
        status = 400
    return render_template("coupons/admin_edit.html", form=form, event=event,
                           issued=services.issued_count(event.id)), status
