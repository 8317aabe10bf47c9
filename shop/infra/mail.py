"""Outgoing mail: an outbox. Every message is a row in `email_log`, written in the
same transaction as the change it tells about, and delivered by an RQ job.

`queue_email` (one row) and `queue_emails_from` (one INSERT … SELECT for many) add
rows inside the caller's transaction; after the commit a relay enqueues their
deliveries. If Redis is unreachable then, the rows wait as `queued` and the
`requeue_stale_emails` sweeper (cron) enqueues them once it is back. Jobs never
write these rows themselves: a lost job must not lose a message. `deliver_email`
renders the kind's subject and templates from the stored context, in the
recipient's language of the moment (mail_render.py), sends through SMTP, retries
with backoff (RQ `Retry`), and marks the row `failed` when retries run out, so a
message is never silently dropped.
"""
import logging
import smtplib
from datetime import datetime, timedelta

from flask import current_app
from flask_mail import Connection, Message
from rq import Queue, Retry, get_current_job
from rq.job import Job
from sqlalchemy import JSON, Integer, String, Text, bindparam, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .mail_render import SUBJECTS, queued_locale, recipient_locale, render_email, subject_of
from .redisconn import redis_clients
from .jobs import call_after_commit, enqueue, enqueue_after_commit, get_queue
from ..timeutil import UTCDateTime, utcnow

log = logging.getLogger(__name__)

class EmailLog(db.Model):
    __tablename__ = "email_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # The subject as last rendered (at queueing, then at each attempt, in the recipient's
    # language then); "" for rows queued in bulk until their first attempt.
    subject: Mapped[str] = mapped_column(String(200))
    context: Mapped[dict | None] = mapped_column(JSON)  # cleared once delivered
    # The language of the request that queued it: used when the address is on no
    # account at sending time (the account's setting wins otherwise).
    locale: Mapped[str | None] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def _retry() -> Retry | None:
    intervals = current_app.config["MAIL_RETRY_INTERVALS"]
    # RQ refuses Retry(max=0); no intervals means one attempt only.
    return Retry(max=len(intervals), interval=intervals) if intervals else None


class _Connection(Connection):
    """Flask-Mail's SMTP connection with MAIL_TIMEOUT applied. Flask-Mail opens its
    socket without a timeout, so a server that accepts and never answers would block
    the worker (and every mail behind it) for good."""

    def configure_host(self) -> smtplib.SMTP:
        state = self.mail
        smtp_class = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
        host = smtp_class(state.server, state.port, timeout=current_app.config.get("MAIL_TIMEOUT") or None)
        try:
            host.set_debuglevel(int(state.debug))
            if state.use_tls:
                host.starttls()
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host


def _send(message: Message) -> None:
    with _Connection(current_app.extensions["mail"]) as connection:
        message.send(connection)


def _job_id(log_id: int) -> str:
    return f"email-{log_id}"


def queue_email(recipient: str, kind: str, *, locale: str | None = None, **context) -> EmailLog:
    """Record an email and deliver it after the current transaction commits. Its text is
    written when it is sent, in the recipient's language then; `locale` (else the
    current request's) is kept for an address that belongs to no account. Raises
    ValueError for an unknown kind, KeyError for a context its subject can't use."""
    if kind not in SUBJECTS:
        raise ValueError(f"unknown email kind {kind!r}")
    stored = queued_locale(locale)
    subject = subject_of(kind, context, recipient_locale(recipient, stored))  # for the log; sent: rewritten
    entry = EmailLog(recipient=recipient, kind=kind, subject=subject, context=context, locale=stored,
                     status="queued", attempts=0)
    db.session.add(entry)
    db.session.flush()
    enqueue_after_commit(deliver_email, entry.id, job_id=_job_id(entry.id), retry=_retry())
    return entry


def json_object_sql(fields: dict[str, str]) -> str:
    """SQL for a JSON object of `fields` (key -> SQL expression), for the context
    column of `queue_emails_from`: json_build_object on PostgreSQL, json_object on SQLite."""
    name = "json_build_object" if db.session.get_bind().dialect.name == "postgresql" else "json_object"
    return f"{name}(" + ", ".join(f"'{key}', {expr}" for key, expr in fields.items()) + ")"


def queue_emails_from(rows_sql: str, params: dict, kinds: tuple[str, ...], *binds) -> list[int]:
    """Record many emails with one INSERT … SELECT inside the caller's transaction.

    `rows_sql` is a SELECT of (recipient, kind, context, locale), context built with
    `json_object_sql`, locale the recipient's setting (or NULL); every kind it yields
    must be one of `kinds`. Subjects and bodies are written when each is sent. After
    the commit one relay job enqueues their deliveries (a direct enqueue of each would
    keep the caller waiting on Redis). Returns the new rows' ids. Raises ValueError for an
    unknown kind."""
    unknown = set(kinds) - set(SUBJECTS)
    if unknown:
        raise ValueError(f"unknown email kinds {sorted(unknown)!r}")
    ids = list(db.session.scalars(text(f"""
        INSERT INTO email_log (recipient, kind, subject, context, locale, status, attempts, created_at)
        SELECT e.recipient, e.kind, '', e.context, e.locale, 'queued', 0, :email_created_at
        FROM ({rows_sql}) e
        RETURNING id""").bindparams(bindparam("email_created_at", type_=UTCDateTime()), *binds),
        {**params, "email_created_at": utcnow()}))  # rowcount of INSERT…SELECT is -1 on psycopg
    if ids:
        enqueue_after_commit(relay_queued_emails, min(ids), max(ids), list(kinds))
    return ids


def deliver_email(log_id: int) -> str:
    """RQ job: send one logged email. Raises to make RQ retry; idempotent once sent."""
    entry = db.session.get(EmailLog, log_id)
    if entry is None or entry.status == "sent":
        return "skipped"
    subject, body, html = render_email(entry.kind, dict(entry.context or {}),
                                       recipient_locale(entry.recipient, entry.locale))
    message = Message(subject=subject, recipients=[entry.recipient], body=body, html=html)
    # End the read transaction before writing: on SQLite (WAL) a transaction that read
    # and then writes fails at once ("database is locked") if another process committed
    # meanwhile, e.g. a cron job writing more outbox rows while this one renders.
    db.session.commit()
    db.session.execute(update(EmailLog).where(EmailLog.id == log_id).values(
        subject=subject, attempts=EmailLog.attempts + 1).execution_options(synchronize_session=False))
    # On record before SMTP is spoken to: a worker killed mid-conversation still leaves
    # the attempt counted (the row tells the truth), and no transaction stays open
    # while a slow server takes its time.
    db.session.commit()
    try:
        _send(message)
    except Exception as exc:  # SMTP, socket and TLS errors all mean "try again later"
        job = get_current_job()
        final = job is None or not job.retries_left
        entry.status = "failed" if final else "retrying"
        entry.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        db.session.commit()
        log.warning("email %s attempt %s failed: %s", log_id, entry.attempts, exc)
        raise
    entry.status = "sent"
    entry.sent_at = utcnow()
    entry.last_error = None
    entry.context = None  # codes and reset links need not outlive delivery
    db.session.commit()
    return "sent"


class NotResendable(Exception):
    """Only a failed email that still has what its template needs can be sent again."""


def resend_email(entry: EmailLog) -> EmailLog:
    """Put a failed email back in the queue (status `queued`, attempts kept) and deliver it
    once the caller's transaction commits, with the usual retries. Raises NotResendable
    for any other status, or when its context is gone."""
    if entry.status != "failed":
        raise NotResendable(f"Only failed emails can be resent; this one is {entry.status}.")
    if entry.context is None:
        raise NotResendable("This email's content is gone; it can't be resent.")
    entry.status = "queued"
    job_id = _job_id(entry.id)
    connection, retry, entry_id = redis_clients.raw, _retry(), entry.id

    def requeue():
        # The failed job keeps its id (email-<id>) in the failed registry: remove it first, so
        # the new job has the id requeue_stale_emails looks for and the failed count drops.
        try:
            Job.fetch(job_id, connection=connection).delete()
        except Exception:  # no such job (expired, or Redis lost it): nothing to remove
            pass
        try:
            enqueue(deliver_email, entry_id, job_id=job_id, retry=retry)
        except Exception:  # committed as queued: requeue_stale_emails sends it once Redis is back
            log.exception("could not enqueue the resend of email %s", entry_id)

    call_after_commit(requeue)
    return entry


RELAY_CHUNK = 500


def relay_emails(log_ids) -> int:
    """Make sure each email's delivery job is in Redis, enqueueing those that are not
    (never enqueued, or lost with Redis's data); a job already waiting is left alone, so
    nothing is sent twice. Pipelined, RELAY_CHUNK at a time. Returns how many were
    enqueued; raises RedisError while Redis is unreachable."""
    connection, queue, retry = redis_clients.raw, get_queue(), _retry()
    log_ids, count = list(log_ids), 0
    for start in range(0, len(log_ids), RELAY_CHUNK):
        chunk = log_ids[start:start + RELAY_CHUNK]
        with connection.pipeline(transaction=False) as pipe:
            for log_id in chunk:
                pipe.exists(Job.key_for(_job_id(log_id)))
            present = pipe.execute()
        missing = [log_id for log_id, found in zip(chunk, present) if not found]
        if missing:
            queue.enqueue_many([Queue.prepare_data(deliver_email, (log_id,), job_id=_job_id(log_id), retry=retry)
                                for log_id in missing])
            count += len(missing)
    return count


def relay_queued_emails(first_id: int, last_id: int, kinds: list[str]) -> int:
    """Job: enqueue the deliveries of the queued emails of `kinds` with ids in
    [first_id, last_id] (what one `queue_emails_from` wrote; the kinds leave out rows
    other transactions wrote in that range, which relay themselves). Writes no rows."""
    ids = db.session.scalars(select(EmailLog.id).where(
        EmailLog.id.between(first_id, last_id), EmailLog.kind.in_(kinds), EmailLog.status == "queued")
        .order_by(EmailLog.id)).all()
    db.session.commit()  # no transaction stays open while Redis works
    return relay_emails(ids)


def requeue_stale_emails(older_than_seconds: int = 120) -> int:
    """Cron job (the outbox sweeper): enqueue queued (or retrying) mail whose job is not
    in Redis: never enqueued (Redis was down at commit time, or the relay job was lost)
    or lost with Redis's data. Younger rows are left to their own after-commit relay."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    rows = db.session.scalars(
        # "retrying" too: its scheduled retry lives in Redis and is lost with it.
        select(EmailLog.id).where(EmailLog.status.in_(("queued", "retrying")), EmailLog.created_at < cutoff)
        .order_by(EmailLog.id)
    ).all()
    db.session.commit()
    return relay_emails(rows)
