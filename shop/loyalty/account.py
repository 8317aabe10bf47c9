"""The loyalty card on the account page: grade, this month's progress, points."""
from .grades import current_grade, month_progress
from .points import balance, history


def account_page_part(user) -> dict:
    return dict(grade=current_grade(user.id), points=balance(user.id), progress=month_progress(user.id),
                point_history=history(user.id, 10))


def register():
    from ..accounts.profile_views import register_page_part

    register_page_part(account_page_part)
