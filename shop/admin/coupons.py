"""Admin: create and edit coupon events, close one now, reconcile Redis with the database.
Every change writes an audit row in the same transaction."""
import re
from datetime import date, datetime, timezone

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import case, func, select

from ..accounts.decorators import role_required
from ..web.forms import EmptyForm
from ..accounts.models import User
from .audit import record
from ..catalog.models import Tag
from ..extensions import db
from ..timeutil import SEOUL, to_seoul, utcnow
from ..coupons import durability, services
from ..coupons.forms import EventForm
from ..coupons.models import Coupon, CouponEvent
from ..coupons.redis_state import keys
from .blueprint import bp


def _kst_to_utc(value):
    from datetime import timezone

    return value.replace(tzinfo=SEOUL).astimezone(timezone.utc) if value else None


def _choices(form):
    form.scope_tag_id.choices = [(0, _("Any game"))] + [(t.id, t.label) for t in db.session.scalars(select(Tag).order_by(Tag.name))]
    form.scope_publisher_id.choices = [(0, _("Any publisher"))] + [
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


@bp.route("/coupons", methods=["GET", "POST"])
@role_required("admin")
def coupon_events():
    form = EventForm()
    _choices(form)
    status = 200
    if form.validate_on_submit():
        data = _input(form)
        entry = record("coupon_event.create", target_type="coupon_event", label=data.name, after=_jsonable(data.__dict__))
        try:
            event = services.create_event(data)  # commits the audit row with the event
        except services.CouponError as exc:
            db.session.rollback()
            _show_error(form, exc)
            status = 400
        else:
            entry.target_id = str(event.id)
            db.session.commit()
            flash(_("Coupon event “%(name)s” created.", name=event.name), "success")
            return redirect(url_for("admin.coupon_events"))
    elif form.is_submitted():
        status = 400
    events = db.session.scalars(select(CouponEvent).order_by(CouponEvent.opens_at.desc())).all()
    return render_template("admin/coupon_events.html", form=form, rows=event_counts(events), now=utcnow(),
                           action_form=EmptyForm(), redis_problems=durability.problems(refresh=True),
                           dead_letters=_dead_letters(events)), status


def _dead_letters(events) -> list[tuple[CouponEvent, list[dict]]]:
    """(event, its dead letters) for the events that have any; empty if Redis can't be read."""
    try:
        found = services.coupon_redis().dead_letters([e.id for e in events])
    except RedisError:
        return []
    for letters in found.values():
        for letter in letters:
            stamp = letter.get("t", "")
            letter["claimed_at"] = (datetime.fromtimestamp(int(stamp) / 1000, tz=timezone.utc)
                                    if stamp.isascii() and stamp.isdigit() and len(stamp) < 16 else None)
    return [(e, found[e.id]) for e in events if e.id in found]


@bp.route("/coupons/<int:event_id>", methods=["GET", "POST"])
@role_required("admin")
def coupon_edit(event_id):
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
        data = _input(form)
        before, after = _diff(event, data)
        record("coupon_event.update", event, target_type="coupon_event", before=before, after=after)
        try:
            services.update_event(event, data)  # commits the audit row with the change
        except services.CouponError as exc:
            db.session.rollback()
            _show_error(form, exc)
            status = 400
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.coupon_events"))
    elif form.is_submitted():
        status = 400
    return render_template("admin/coupon_edit.html", form=form, event=event,
                           issued=services.issued_count(event.id)), status


# --- claimed vs persisted vs used ------------------------------------------------------------

def event_counts(events) -> list[dict]:
    """Per event: claimed (Redis set size), persisted and used (database rows, one grouped
    query) and remaining stock (Redis), with Redis read in one pipeline."""
    ids = [e.id for e in events]
    db_counts = {}
    if ids:
        db_counts = {event_id: (int(n), int(used or 0)) for event_id, n, used in db.session.execute(
            select(Coupon.event_id, func.count(), func.sum(case((Coupon.status == "used", 1), else_=0)))
            .where(Coupon.event_id.in_(ids)).group_by(Coupon.event_id))}
    redis_counts = {}
    try:
        pipe = services.coupon_redis().client.pipeline(transaction=False)
        for event_id in ids:
            pipe.scard(keys(event_id)["claimed"])
            pipe.get(keys(event_id)["stock"])
        replies = pipe.execute() if ids else []
        redis_counts = {event_id: (int(replies[2 * n]), None if replies[2 * n + 1] is None else int(replies[2 * n + 1]))
                        for n, event_id in enumerate(ids)}
    except RedisError:
        pass  # shown as unknown; the page still lists the events
    rows = []
    for e in events:
        persisted, used = db_counts.get(e.id, (0, 0))
        claimed, stock = redis_counts.get(e.id, (None, None))
        rows.append({"event": e, "state": e.window_state(), "claimed": claimed, "persisted": persisted, "used": used,
                     "remaining": stock if stock is not None else max(e.quantity - persisted, 0)})
    return rows


def _jsonable(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, (datetime, date)) else v) for k, v in values.items()}


def _diff(event: CouponEvent, data: services.EventInput) -> tuple[dict, dict]:
    before, after = {}, {}
    for name, value in data.__dict__.items():
        old = getattr(event, name)
        if old != value:
            before[name], after[name] = old, value
    return _jsonable(before), _jsonable(after)


def _event_or_404(event_id: int) -> CouponEvent:
    event = db.session.get(CouponEvent, event_id)
    if event is None:
        abort(404)
    return event


def _event_input(event: CouponEvent, **changes) -> services.EventInput:
    fields = {name: getattr(event, name) for name in services.EventInput.__dataclass_fields__}
    fields.update(changes)
    return services.EventInput(**fields)


@bp.route("/coupons/<int:event_id>/close", methods=["POST"])
@role_required("admin")
def coupon_close(event_id):
    """End the claim window now (e.g. a drop announced by mistake); Redis follows after commit."""
    if not EmptyForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    event = _event_or_404(event_id)
    state = event.window_state()
    if state != "open":
        flash(_("“%(name)s” is already closed.", name=event.name) if state == "closed"
              else _("“%(name)s” is not open yet; edit its window instead.", name=event.name), "error")
        return redirect(url_for("admin.coupon_events"))
    now = utcnow()
    record("coupon_event.close", event, target_type="coupon_event", before=_jsonable({"closes_at": event.closes_at}),
           after=_jsonable({"closes_at": now}))
    try:
        services.update_event(event, _event_input(event, closes_at=now))
    except services.CouponError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("“%(name)s” closed now.", name=event.name), "success")
    return redirect(url_for("admin.coupon_events"))


@bp.route("/coupons/<int:event_id>/reconcile", methods=["POST"])
@role_required("admin")
def coupon_reconcile(event_id):
    """Compare Redis with the database for this event and repair (what `flask coupons
    reconcile --event` does), then say what was found and fixed."""
    if not EmptyForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    event = _event_or_404(event_id)
    name = event.name
    (row,) = services.reconcile(event_id) or [None]
    if row is None:
        abort(404)
    # The audit note is a record, kept as written; the flash is in the admin's language.
    summary = (f"database {row['db_issued']}, Redis {row['redis_claimed']} claimed, stock {row['stock']}; "
               f"repaired {row['repaired_claimers']} claimer(s)" + ("; rebuilt from the database" if row["rebuilt"] else ""))
    record("coupon_event.reconcile", target_type="coupon_event", target_id=event_id, label=name, after=dict(row),
           note=summary)
    db.session.commit()
    figures = {"name": name, "issued": row["db_issued"], "claimed": row["redis_claimed"], "stock": row["stock"],
               "repaired": row["repaired_claimers"]}
    if row["rebuilt"]:
        flash(_("Reconciled “%(name)s”: database %(issued)s, Redis %(claimed)s claimed, stock %(stock)s; "
                "repaired %(repaired)s claimer(s); rebuilt from the database.", **figures), "success")
    else:
        flash(_("Reconciled “%(name)s”: database %(issued)s, Redis %(claimed)s claimed, stock %(stock)s; "
                "repaired %(repaired)s claimer(s).", **figures), "success")
    return redirect(url_for("admin.coupon_events"))


STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


@bp.route("/coupons/<int:event_id>/dead/<entry_id>/retry", methods=["POST"])
@role_required("admin")
def coupon_retry_dead_letter(event_id, entry_id):
    """Send a claim the consumer gave up on (coupons/consumer.py: MAX_DELIVERIES failures)
    back to be persisted, once the cause is fixed."""
    if not EmptyForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    if not STREAM_ID.fullmatch(entry_id):
        abort(404)
    event = _event_or_404(event_id)
    name = event.name
    try:
        user = services.retry_dead_letter(event_id, entry_id)
    except services.DeadLetterGone as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.coupon_events"))
    record("coupon_event.retry_dead_letter", target_type="coupon_event", target_id=event_id, label=name,
           after={"entry": entry_id, "user": user}, note=f"failed claim {entry_id} (user {user or '?'}) sent back")
    db.session.commit()
    flash(_("The failed claim of user %(user)s in “%(name)s” was sent back to be saved.", user=user or "?", name=name),
          "success")
    return redirect(url_for("admin.coupon_events"))
