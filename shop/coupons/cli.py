"""`flask coupons ...`"""
import click
from flask.cli import AppGroup

coupons_cli = AppGroup("coupons", help="Coupon drops.")


@coupons_cli.command("reconcile")
@click.option("--event", "event_id", type=int, help="Only this event.")
def reconcile_command(event_id):
    """Compare Redis and the database for open events and repair (rebuilds lost state)."""
    from .services import reconcile

    for row in reconcile(event_id):
        click.echo("event {event}: db issued {db_issued}, redis claimed {redis_claimed}, stock {stock}, "
                   "repaired claimers {repaired_claimers}{note}".format(
                       **row, note=" (rebuilt from the database)" if row["rebuilt"] else ""))


@coupons_cli.command("drain")
def drain_command():
    """Persist every waiting claim now (what the coupons process does continuously)."""
    from .consumer import active_event_ids, drain_event

    total = sum(drain_event(e) for e in active_event_ids())
    click.echo(f"Persisted {total} claim(s).")
