"""The job schedule: `flask jobs list` / `flask jobs run` (the admin page is shop/admin/jobs.py)."""
from datetime import datetime, timezone

import click
from croniter import croniter
from flask.cli import AppGroup
from flask_babel import gettext as _, lazy_gettext as _l

from ..infra.jobs import CRON
from ..timeutil import format_seoul

jobs_cli = AppGroup("jobs", help="The cron schedule.")

# What each job does, as the admin's schedule page says it (ids and functions stay as they are).
DESCRIPTIONS = {
    "accounts-purge-withdrawn": _l("Erase accounts withdrawn long enough ago"),
    "accounts-remove-unverified": _l("Remove accounts that never verified their email"),
    "notifications-purge-read": _l("Delete old read notifications"),
    "mail-requeue-stale": _l("Send again mail stuck in the outbox"),
    "catalog-announce-sales": _l("Announce sales that have started"),
    "catalog-persist-views": _l("Save yesterday's page views"),
    "library-release-games": _l("Release games whose day has come: unlock pre-orders, tell buyers and wishers"),
    "orders-reconcile": _l("Check unfinished payments with the gateway"),
    "orders-expire": _l("Expire orders left unpaid"),
    "coupons-reconcile": _l("Reconcile coupon drops (Redis and database)"),
    "coupons-expire": _l("Expire coupons past their validity"),
    "vip-grade": _l("Grade VIP levels for last month"),
    "points-expire": _l("Expire points past their validity"),
}


def schedule(now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(timezone.utc)
    rows = []
    for job_id, cron, func in CRON:
        nxt = croniter(cron, now).get_next(datetime)
        rows.append({"id": job_id, "cron": cron, "func": func, "next": nxt.replace(tzinfo=timezone.utc),
                     "description": DESCRIPTIONS.get(job_id, "")})
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

    funcs = {j: f for j, _cron, f in CRON}
    if job_id not in funcs:
        raise click.ClickException(_("Unknown job. Known: %(jobs)s", jobs=", ".join(funcs)))
    click.echo(f"{job_id}: {import_attribute(funcs[job_id])()!r}")
