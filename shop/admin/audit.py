"""Record admin actions in the caller's transaction, so the audit row and the change it
describes commit (or roll back) together."""
from flask import g, has_request_context, request
from flask_login import current_user

from ..extensions import db
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
