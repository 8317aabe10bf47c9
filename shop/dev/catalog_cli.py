"""`flask catalog ...` commands (seed demo games)."""
import time

import click
from flask import current_app
from flask.cli import AppGroup

catalog_cli = AppGroup("catalog", help="Catalog commands.")


@catalog_cli.command("seed")
@click.option("--games", "n", default=200, show_default=True, type=click.IntRange(0, 5_000_000),
              help="How many demo games the catalog should hold.")
@click.option("--covers", default=None, type=click.IntRange(0), show_default="300",
              help="Generate cover images for the first this many games.")
@click.option("--reviewed", default=None, type=click.IntRange(0, 10_000), show_default="300",
              help="Give the first this many games reviews by demo players who bought them (some stay unrated).")
@click.option("--batch-size", default=None, type=click.IntRange(100, 50_000), show_default="5000")
@click.option("--force", is_flag=True, help="Allow outside development.")
def seed(n, covers, reviewed, batch_size, force):
    """Create demo games 1..N (deterministic; rerunning adds only what is missing)."""
    from .seed_games import BATCH_SIZE, DEFAULT_COVERS, DEFAULT_REVIEWED, seed_games

    if current_app.config["ENV_NAME"] == "production" and not force:
        raise click.ClickException("Demo games are for development; pass --force to load them anyway.")
    started = time.monotonic()
    with click.progressbar(length=n, label=f"Seeding {n:,} games", show_pos=True, show_eta=True) as bar:
        result = seed_games(n, covers=DEFAULT_COVERS if covers is None else covers,
                            batch_size=batch_size or BATCH_SIZE, progress=bar.update,
                            reviewed=DEFAULT_REVIEWED if reviewed is None else reviewed)
    click.echo(f"{result.created:,} games created, {result.existing:,} already there, "
               f"{result.covers:,} covers generated, {result.reviews:,} reviews posted "
               f"in {time.monotonic() - started:.1f}s.")
    if current_app.config["PAYMENT_GATEWAY"] == "sandbox":  # the demo customer buys through it
        from .seed import DEMO_USERS
        from .seed_library import seed_library

        customer = next(email for role, email, *_ in DEMO_USERS if role == "customer")
        made, bought = seed_library(customer)
        click.echo(f"{made} demo builds published; the demo customer bought {bought} games.")
