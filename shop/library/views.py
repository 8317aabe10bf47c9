"""/library: the games the user owns."""
from flask import Blueprint, render_template
from flask_login import current_user, login_required

from . import services

bp = Blueprint("library", __name__)


@bp.route("/library")
@login_required
def library():
    return render_template("library/index.html", entries=services.entries(current_user.id))
