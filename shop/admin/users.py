"""Admin: find users, change a role, suspend and restore accounts.

Suspending sets `suspended_at` and rotates the session token in one commit: every
session and remember-me cookie of the user dies at once (the user loader compares the
token), and the Redis copy of the session (accounts/auth_cache.py) is tombstoned after
the commit because both columns are watched there. Logging in again is refused while
suspended (accounts.services.authenticate, social.services._admit)."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, or_, select

from ..accounts.models import ROLES, User
from ..web.numbers import MAX_ID, page_number, paginate, parse_int
from ..errors import DomainError
from ..extensions import db
from ..orders.models import Order
from ..reviews.models import Review
from ..timeutil import utcnow
from . import audit
from .blueprint import bp
from .forms import ConfirmForm, ReasonForm, RoleForm, UserSearchForm
from .labels import label
from .models import AuditLog

PER_PAGE = 25


class NotOnYourself(DomainError):
    message = _l("You cannot do that to your own account.")


class NothingToChange(DomainError):
    pass


# --- operations -------------------------------------------------------------------------

def like(column, text: str):
    """Case-insensitive substring match with LIKE wildcards in `text` taken literally."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def as_id(text: str) -> int | None:
    """`text` as a row id if it is one (ASCII digits that fit an INTEGER column), else None."""
    return parse_int(text, 1, MAX_ID)


def page_arg() -> int:
    """The `page` query argument (paginate() turns one past the last into the last)."""
    return page_number(request.args.get("page"))


def search_users(q: str = "", role: str = "", status: str = "", page: int = 1):
    query = select(User)
    if q:
        matches = [like(User.email, q), like(User.nickname, q)]
        if as_id(q) is not None:
            matches.append(User.id == as_id(q))
        query = query.where(or_(*matches))
    if role:
        query = query.where(User.role == role)
    if status == "active":
        query = query.where(User.status == "active", User.suspended_at.is_(None))
    elif status == "suspended":
        query = query.where(User.suspended_at.is_not(None))
    elif status:
        query = query.where(User.status == status)
    return paginate(query.order_by(User.id.desc()), page, PER_PAGE)


def change_role(admin: User, user: User, role: str) -> User:
    """Raises NotOnYourself, NothingToChange."""
    if role not in ROLES:
        raise NothingToChange(_("Unknown role."))
    if user.id == admin.id:
        raise NotOnYourself(_("You cannot change your own role; ask another admin."))
    before, after = audit.changes(user, role=role)
    if not after:
        raise NothingToChange(_("%(email)s is already a %(role)s.", email=user.email, role=label("role", role).lower()))
    audit.record("user.role", user, before=before, after=after, actor=admin)
    db.session.commit()
    return user


def suspend(admin: User, user: User, reason: str) -> User:
    """Suspend and log out everywhere. Raises NotOnYourself, NothingToChange."""
    if user.id == admin.id:
        raise NotOnYourself(_("You cannot suspend your own account."))
    if user.suspended_at is not None:
        raise NothingToChange(_("%(email)s is already suspended.", email=user.email))
    if user.status == "purged":
        raise NothingToChange(_("That account was erased; there is nothing to suspend."))
    user.suspended_at = utcnow()
    user.rotate_session_token()  # every session and remember-me cookie of the user ends
    audit.record("user.suspend", user, before={"suspended_at": None},
                 after={"suspended_at": user.suspended_at.isoformat()}, note=reason, actor=admin)
    db.session.commit()
    return user


def restore(admin: User, user: User) -> User:
    """Lift a suspension. Raises NothingToChange."""
    if user.suspended_at is None:
        raise NothingToChange(_("%(email)s is not suspended.", email=user.email))
    before = {"suspended_at": user.suspended_at.isoformat()}
    user.suspended_at = None
    audit.record("user.restore", user, before=before, after={"suspended_at": None}, actor=admin)
    db.session.commit()
    return user


def user_facts(user: User) -> dict:
    """What the detail page shows besides the profile itself."""
    count = lambda model: db.session.scalar(  # noqa: E731
        select(func.count()).select_from(model).where(model.user_id == user.id))
    return {
        "order_count": count(Order),
        "review_count": count(Review),
        "recent_orders": db.session.scalars(select(Order).where(Order.user_id == user.id)
                                            .order_by(Order.created_at.desc(), Order.id.desc()).limit(10)).all(),
        "audit_rows": db.session.scalars(select(AuditLog).where(
            AuditLog.target_type == "user", AuditLog.target_id == str(user.id))
            .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(20)).all(),
    }


# --- views --------------------------------------------------------------------------------

def _get_user(user_id: int) -> User:
    return db.get_or_404(User, user_id)


def _user_page(user: User, status: int = 200, **forms):
    page = {"role_form": RoleForm(formdata=None, role=user.role), "reason_form": ReasonForm(formdata=None),
            "confirm_form": ConfirmForm(formdata=None)}
    page.update(forms)
    return render_template("admin/user.html", user=user, **user_facts(user), **page), status


@bp.route("/users")
def users():
    form = UserSearchForm(formdata=request.args)
    valid = form.validate()
    filters = {k: v for k, v in form.data.items() if v} if valid else {}
    pages = search_users(filters.get("q", ""), filters.get("role", ""), filters.get("status", ""),
                         page_arg())
    return render_template("admin/users.html", form=form, pages=pages, filters=filters), 200 if valid else 400


@bp.route("/users/<int:user_id>")
def user(user_id):
    return _user_page(_get_user(user_id))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
def user_role(user_id):
    user = _get_user(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _user_page(user, 400, role_form=form)
    try:
        change_role(current_user, user, form.role.data)
    except DomainError as exc:
        form.role.errors.append(exc.message)
        return _user_page(user, 400, role_form=form)
    flash(_("%(email)s is now a %(role)s.", email=user.email, role=label("role", user.role).lower()), "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.route("/users/<int:user_id>/suspend", methods=["POST"])
def user_suspend(user_id):
    user = _get_user(user_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _user_page(user, 400, reason_form=form)
    try:
        suspend(current_user, user, form.reason.data)
    except DomainError as exc:
        form.reason.errors.append(exc.message)
        return _user_page(user, 400, reason_form=form)
    flash(_("%(email)s is suspended and was logged out everywhere.", email=user.email), "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.route("/users/<int:user_id>/restore", methods=["POST"])
def user_restore(user_id):
    user = _get_user(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        restore(current_user, user)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("%(email)s can log in again.", email=user.email), "success")
    return redirect(url_for("admin.user", user_id=user.id))
