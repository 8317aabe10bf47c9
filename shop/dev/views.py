"""/dev/inbox: the mail the development SMTP sink received (development only)."""
from flask import Blueprint, abort, current_app, render_template

from .mail import read_messages

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.route("/inbox")
def inbox():
    return render_template("dev/inbox.html", messages=read_messages(current_app.config["DEV_INBOX_DIR"])[:100])


@bp.route("/inbox/<message_id>")
def inbox_message(message_id):
    for msg in read_messages(current_app.config["DEV_INBOX_DIR"]):
        if msg["id"] == message_id:
            return render_template("dev/message.html", msg=msg)
    abort(404)
