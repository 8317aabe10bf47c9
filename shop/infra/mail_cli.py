"""`flask mail ...`: inspect and retry outgoing mail."""
import click
from flask.cli import AppGroup

from ..extensions import db

mail_cli = AppGroup("mail", help="Inspect and retry outgoing mail.")


@mail_cli.command("status")
@click.option("--limit", default=20, show_default=True)
def mail_status(limit):
    """Counts per status, and the latest failures with their last error."""
    from sqlalchemy import func, select

    from .mail import EmailLog

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
    from .jobs import enqueue
    from .mail import EmailLog, deliver_email

    entry = db.session.get(EmailLog, log_id)
    if entry is None or entry.status != "failed":
        raise click.ClickException("Only failed emails can be retried.")
    if entry.context is None:
        raise click.ClickException("This email's content was already cleared; it cannot be resent.")
    entry.status = "queued"
    db.session.commit()
    enqueue(deliver_email, entry.id, job_id=f"email-{entry.id}-retry")
    click.echo(f"Email #{entry.id} queued again.")
