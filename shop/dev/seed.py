"""`flask seed demo`: the demo accounts for development."""
import click
from flask import current_app
from flask.cli import AppGroup

from ..accounts import services
from ..accounts.models import User
from ..extensions import db
from ..timeutil import utcnow

seed_cli = AppGroup("seed", help="Load demo data.")

DEMO_LOCALE = "ko"  # the store is Korean first; the demo accounts see it so
DEMO_USERS = [
    ("admin", "admin@playcation.example", "Admin", "admin-pass-1234"),
    ("publisher", "publisher@playcation.example", "Nexon Indie", "publisher-pass-1234"),
    ("customer", "customer@playcation.example", "김게이머", "customer-pass-1234"),
]


@seed_cli.command("demo")
@click.option("--force", is_flag=True, help="Allow outside development.")
def seed_demo(force):
    """Create demo accounts for every role (once; existing ones are left alone)."""
    if current_app.config["ENV_NAME"] == "production" and not force:
        raise click.ClickException("Demo data is for development; pass --force to load it anyway.")
    for role, email, nickname, password in DEMO_USERS:
        if services.find_by_email(email) is None:
            db.session.add(User(email=email, nickname=nickname, role=role, email_verified_at=utcnow(),
                                locale=DEMO_LOCALE, password_hash=services.hash_password(password)))
    db.session.commit()
    click.echo("Demo logins:")
    for role, email, _, password in DEMO_USERS:
        click.echo(f"  {role:<10} {email:<28} {password}")
