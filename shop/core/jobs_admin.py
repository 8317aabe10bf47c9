"""The job schedule: `flask jobs list` and an admin page to run any job now."""
from datetime import datetime, timezone

import click
from croniter import croniter
from flask import abort, flash, redirect, render_template, url_for
from flask.cli import AppGroup

from ..accounts.decorators import role_required
from ..accounts.forms import EmptyForm
from ..jobs import CRON, enqueue
from ..timeutil import format_seoul
from .views import bp

jobs_cli = AppGroup("jobs", help="The cron schedule.")


def schedule(now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(timezone.utc)
    rows = []
    for job_id, cron, func in CRON:
        nxt = croniter(cron, now).get_next(datetime)
        rows.append({"id": job_id, "cron": cron, "func": func, "next": nxt.replace(tzinfo=timezone.utc)})
    return rows


@jobs_cli.command("list")
def list_jobs():
    """Every cron job with its next run time in Asia/Seoul."""
    for row in schedule():
        click.echo(f"{row['id']:<26} {row['cron']:<14} (UTC)  next {format_seoul(row['next'], '%Y-%m-%d %H:%M')} KST"
                   f"  {row['func']}")


@jobs_cli.command("run")
@click.argument("job_id")
def run_job(job_id):
    """Run one job now, in this process."""
    from rq.utils import import_attribute

    funcs = {j: f for j, _, f in CRON}
    if job_id not in funcs:
        raise click.ClickException(f"Unknown job. Known: {', '.join(funcs)}")
    click.echo(f"{job_id}: {import_attribute(funcs[job_id])()!r}")


@bp.route("/admin/jobs", methods=["GET", "POST"])
@role_required("admin")
def admin_jobs():
    form = EmptyForm()
    if form.validate_on_submit():
        from flask import request

        funcs = {j: f for j, _, f in CRON}
        job_id = request.form.get("job", "")
        if job_id not in funcs:
            abort(400)
        enqueue(funcs[job_id])
        flash(f"{job_id} queued; the worker runs it now.", "success")
        return redirect(url_for("core.admin_jobs"))
    return render_template("core/admin_jobs.html", rows=schedule(), form=form)
