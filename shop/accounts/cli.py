"""`flask users ...` commands."""
import click
from flask.cli import AppGroup

from ..errors import DomainError
from ..extensions import db
from . import services
from .models import User

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create-admin")
@click.argument("email")
@click.option("--nickname", default="Admin", show_default=True)
@click.option("--password", help="Password for a new account (prompted when not given).")
def create_admin(email, nickname, password):
    """Make EMAIL an admin, creating a verified account if there is none."""
    user = services.find_by_email(email)
    if user is None:
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if len(password) < 8:
            raise click.ClickException("Password must be at least 8 characters.")
        user = User(email=services.normalize_email(email), nickname=nickname,
                    password_hash=services.hash_password(password), role="admin")
        from ..timeutil import utcnow

        user.email_verified_at = utcnow()
        db.session.add(user)
        db.session.commit()
        click.echo(f"Created admin {user.email}.")
    else:
        services.set_role(email, "admin")
        click.echo(f"{user.email} is now an admin.")


@users_cli.command("make-publisher")
@click.argument("email")
def make_publisher(email):
    """Give an existing account the publisher role."""
    try:
        user = services.set_role(email, "publisher")
    except DomainError as exc:
        raise click.ClickException(exc.message)
    click.echo(f"{user.email} is now a publisher.")


@users_cli.command("purge-withdrawn")
def purge_withdrawn_command():
    """Run the daily purge of accounts past their withdrawal grace period now."""
    from .tasks import purge_withdrawn

    click.echo(f"Purged {purge_withdrawn()} account(s).")
