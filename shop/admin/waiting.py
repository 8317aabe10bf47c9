"""Admin: waiting rooms (create, change, turn on and off, clear the line). Every change
writes an audit row in the same transaction."""
from datetime import timezone

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import select

from ..accounts.decorators import role_required
from ..extensions import db
from ..timeutil import SEOUL, to_seoul
from ..waiting import services
from ..waiting.forms import RoomForm
from ..waiting.models import WaitingRoom
from ..web.forms import EmptyForm
from .audit import record
from .blueprint import bp

FIELDS = tuple(services.RoomInput.__dataclass_fields__)


def _input(form) -> services.RoomInput:
    values = {name: getattr(form, name).data for name in FIELDS}
    values["name"] = values["name"].strip()
    values["opens_at"] = form.opens_at.data.replace(tzinfo=SEOUL).astimezone(timezone.utc)
    return services.RoomInput(**values)


def _shown(values: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}


def _summaries(rooms) -> dict:
    found = {}
    for room in rooms:
        try:
            found[room.id] = services.room_redis().summary(room.id)
        except RedisError:
            return {}
    return found


@bp.route("/waiting", methods=["GET", "POST"])
@role_required("admin")
def waiting_rooms():
    form = RoomForm()
    status = 200
    if form.validate_on_submit():
        data = _input(form)
        entry = record("waiting_room.create", target_type="waiting_room", label=data.name, after=_shown(data.__dict__))
        try:
            room = services.save_room(None, data)
        except services.RoomError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors = [exc.message]
            status = 400
        else:
            entry.target_id = str(room.id)
            db.session.commit()
            flash(_("Waiting room “%(name)s” saved.", name=room.name), "success")
            return redirect(url_for("admin.waiting_rooms"))
    elif form.is_submitted():
        status = 400
    rooms = db.session.scalars(select(WaitingRoom).order_by(WaitingRoom.id.desc())).all()
    return render_template("admin/waiting_rooms.html", form=form, rooms=rooms, summaries=_summaries(rooms),
                           action_form=EmptyForm()), status


def _room_or_404(room_id: int) -> WaitingRoom:
    room = db.session.get(WaitingRoom, room_id)
    if room is None:
        abort(404)
    return room


@bp.route("/waiting/<int:room_id>", methods=["GET", "POST"])
@role_required("admin")
def waiting_room_edit(room_id):
    room = _room_or_404(room_id)
    submitted = RoomForm().is_submitted()
    form = RoomForm() if submitted else RoomForm(obj=room)
    if not submitted:
        form.opens_at.data = to_seoul(room.opens_at).replace(tzinfo=None)
    status = 200
    if form.validate_on_submit():
        data = _input(form)
        before = {n: getattr(room, n) for n in FIELDS if getattr(room, n) != getattr(data, n)}
        after = {n: getattr(data, n) for n in before}
        record("waiting_room.update", room, target_type="waiting_room", before=_shown(before), after=_shown(after))
        try:
            services.save_room(room, data)
        except services.RoomError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors = [exc.message]
            status = 400
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.waiting_rooms"))
    elif form.is_submitted():
        status = 400
    return render_template("admin/waiting_room_edit.html", form=form, room=room), status


@bp.route("/waiting/<int:room_id>/clear", methods=["POST"])
@role_required("admin")
def waiting_room_clear(room_id):
    """Empty the line and forget admissions (a room that is off, before reusing it)."""
    if not EmptyForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    room = _room_or_404(room_id)
    if room.enabled:
        flash(_("Turn “%(name)s” off before clearing its line.", name=room.name), "error")
        return redirect(url_for("admin.waiting_rooms"))
    try:
        services.clear_queue(room.id)
    except RedisError:
        flash(_("Redis is unreachable; nothing was cleared."), "error")
        return redirect(url_for("admin.waiting_rooms"))
    record("waiting_room.clear", room, target_type="waiting_room")
    db.session.commit()
    flash(_("The line of “%(name)s” is empty.", name=room.name), "success")
    return redirect(url_for("admin.waiting_rooms"))
