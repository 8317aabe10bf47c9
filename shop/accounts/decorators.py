"""Access rules for views."""
from functools import wraps

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required


def verified_required(view):
    """Logged in with a verified email (buying and reviewing need it)."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_verified:
            flash(_("Verify your email first."), "error")
            return redirect(url_for("accounts.verify", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def role_required(*roles):
    """Logged in with one of `roles`; admins pass every role check."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in roles and not current_user.is_admin:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator
