"""/grades: how VIP grades, points and cashback work, with the reader's own standing
when logged in. Every figure comes from the app config, so the page cannot drift from
what grading and checkout do."""
from flask import Blueprint, current_app, render_template
from flask_login import current_user

from .grades import current_grade, grade_ladder, month_progress
from .labels import grade_name, point_note
from .points import balance

bp = Blueprint("loyalty", __name__)
bp.add_app_template_filter(grade_name, "grade_name")
bp.add_app_template_filter(point_note, "point_note")


@bp.route("/grades")
def grades_page():
    mine = None
    if current_user.is_authenticated:
        mine = {"grade": current_grade(current_user.id), "points": balance(current_user.id),
                "progress": month_progress(current_user.id)}
    config = current_app.config
    return render_template("loyalty/grades.html", ladder=grade_ladder(), mine=mine,
                           points_share=config["POINTS_MAX_SHARE_PERCENT"],
                           points_months=config["POINTS_VALID_MONTHS"])
