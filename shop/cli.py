"""`flask seed ...`: demo data for development."""
import click
from flask import current_app
from flask.cli import AppGroup

from .accounts import services
from .accounts.models import User
from .extensions import db
from .timeutil import utcnow

seed_cli = AppGroup("seed", help="Load demo data.")

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
                                password_hash=services.hash_password(password)))
    db.session.commit()
    click.echo("Demo logins:")
    for role, email, _, password in DEMO_USERS:
        click.echo(f"  {role:<10} {email:<28} {password}")


mail_cli = AppGroup("mail", help="Inspect and retry outgoing mail.")


@mail_cli.command("status")
@click.option("--limit", default=20, show_default=True)
def mail_status(limit):
    """Counts per status, and the latest failures with their last error."""
    from sqlalchemy import func, select

    from .infra.mail import EmailLog

    counts = db.session.execute(select(EmailLog.status, func.count()).group_by(EmailLog.status)).all()
    click.echo("  ".join(f"{status}={n}" for status, n in sorted(counts)) or "no mail yet")
    failed = db.session.scalars(select(EmailLog).where(EmailLog.status == "failed")
                                .order_by(EmailLog.id.desc()).limit(limit))
    for entry in failed:
        click.echo(f"#{entry.id} {entry.kind} to {entry.recipient}: {entry.attempts} attempts; {entry.last_error}")


@mail_cli.command("retry")
@click.argument("log_id", type=int)
def mail_retry(log_id):
    """Send a failed email again (after fixing SMTP)."""
    from .infra.jobs import enqueue
    from .infra.mail import EmailLog, deliver_email

    entry = db.session.get(EmailLog, log_id)
    if entry is None or entry.status != "failed":
        raise click.ClickException("Only failed emails can be retried.")
    if entry.context is None:
        raise click.ClickException("This email's content was already cleared; it cannot be resent.")
    entry.status = "queued"
    db.session.commit()
    enqueue(deliver_email, entry.id, job_id=f"email-{entry.id}-retry")
    click.echo(f"Email #{entry.id} queued again.")
