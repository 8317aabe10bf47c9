"""Scheduled loyalty jobs."""


def grade_previous_month():
    from .grades import grade_previous_month_if_due

    summary = grade_previous_month_if_due()
    return {"month": summary.month, "inserted": summary.inserted, "points": summary.points_awarded}


def expire_points():
    from .points import expire_points as expire

    return expire()
