"""Record admin actions in the caller's transaction, so the audit row and the change it
describes commit (or roll back) together."""
from datetime import datetime

from flask import g, has_request_context, request
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..timeutil import format_seoul
from .models import AuditLog


def record(action: str, target=None, *, target_type: str | None = None, target_id=None,
           label: str | None = None, before: dict | None = None, after: dict | None = None,
           note: str | None = None, actor=None) -> AuditLog:
    """Add an audit row for `action` ("<target type>.<verb>", e.g. "game.delist") on
    `target` (a model instance, or type/id given).

    The target type defaults to the action's prefix. `before`/`after` hold only the
    fields that changed, as JSON-able values."""
    target_type = target_type or action.partition(".")[0]
    if target is not None:
        target_id = getattr(target, "id", target_id)
        if label is None:
            label = (getattr(target, "email", None) or getattr(target, "title", None)
                     or getattr(target, "name", None) or getattr(target, "public_id", None))
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    row = AuditLog(
        actor_id=getattr(actor, "id", None), actor_email=getattr(actor, "email", None) or "system",
        action=action, target_type=target_type, target_id=None if target_id is None else str(target_id),
        target_label=None if label is None else str(label)[:200],
        before=before, after=after, note=(note or None) and note[:500],
        ip=request.remote_addr if has_request_context() else None,
        request_id=g.get("request_id") if has_request_context() else None)
    db.session.add(row)
    return row


def changes(obj, **new) -> tuple[dict, dict]:
    """Apply `new` attribute values to `obj`; return (before, after) for the ones that changed."""
    before, after = {}, {}
    for name, value in new.items():
        old = getattr(obj, name)
        if old != value:
            before[name], after[name] = old, value
            setattr(obj, name, value)
    return before, after


def shown_changes(before: dict | None, after: dict | None) -> list[tuple[str, str, str]]:
    """(field, old, new) as the audit log shows them: instants in Korea time, missing
    values as "none" (in the reader's language), and fields whose old and new read the same left out (a recorder
    may store a whole record, e.g. a coupon event's settings, or a value that only
    changed form)."""
    before, after = before or {}, after or {}
    out = []
    for name in dict.fromkeys([*before, *after]):
        old, new = _shown(before.get(name)), _shown(after.get(name))
        if old != new:
            out.append((name, old, new))
    return out


def _shown(value) -> str:
    if value is None:
        return _("none")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if instant.tzinfo is not None:  # a stored UTC instant; naive values are left as written
            return format_seoul(instant, "%Y-%m-%d %H:%M:%S KST")
    return str(value)
