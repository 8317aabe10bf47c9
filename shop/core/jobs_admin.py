"""The job schedule: `flask jobs list` / `flask jobs run` (the admin page is shop/admin/jobs.py)."""
from datetime import datetime, timezone

import click
from croniter import croniter
from flask.cli import AppGroup

from ..infra.jobs import CRON
from ..timeutil import format_seoul

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
