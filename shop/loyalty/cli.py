"""`flask vip ...` and `flask points ...`"""
import re

import click
from flask.cli import AppGroup

vip_cli = AppGroup("vip", help="VIP grades.")
points_cli = AppGroup("points", help="Points ledger.")


@vip_cli.command("grade")
@click.option("--month", "month_label", help="YYYY-MM to grade (default: last month in Asia/Seoul).")
def grade_command(month_label):
    """Grade a month's spending: set-based, safe to rerun."""
    from .grades import grade_month, previous_month

    if month_label:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month_label):
            raise click.BadParameter("use YYYY-MM, e.g. 2026-10", param_hint="--month")
        year, month = map(int, month_label.split("-"))
    else:
        year, month = previous_month()
    steps = ["grades", "points", "balances", "summary", "done"]
    with click.progressbar(length=len(steps), label=f"Grading {year:04d}-{month:02d}") as bar:
        summary = grade_month(year, month, progress=lambda name: bar.update(1) if name != "grades" else None)
    click.echo(f"Graded {summary.month}: {summary.inserted} new grade rows"
               f"{' (already graded: nothing changed)' if not summary.inserted else ''}.")
    for grade in ("VIP", "GOLD", "SILVER", "BRONZE"):
        click.echo(f"  {grade:<7} {summary.per_grade.get(grade, 0):>9,} users")
    click.echo(f"Points awarded: {summary.points_awarded:,} P · grade-ups notified: {summary.upgraded:,}"
               f" · grade-downs notified: {summary.downgraded:,}")


@points_cli.command("expire")
def expire_command():
    from .points import expire_points

    click.echo(f"Expired {expire_points():,} points.")


@points_cli.command("rebuild-balances")
def rebuild_command():
    """Recompute cached balances from the ledger."""
    from .points import rebuild_balances

    click.echo(f"Rebuilt {rebuild_balances():,} balances.")
