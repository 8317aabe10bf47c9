"""Outgoing mail: a row per message, delivered by an RQ job after commit, retried
when SMTP fails, marked failed when retries run out, and swept up again when the
job never reached Redis."""
import socket
import threading
import time
from datetime import timedelta

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry
from aiosmtpd.controller import Controller
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select

from shop.dev.mail import FolderHandler
from shop.extensions import db
from shop.infra.mail import (SUBJECTS, EmailLog, deliver_email, queue_email, relay_emails, relay_queued_emails,
                       requeue_stale_emails)
from shop.timeutil import utcnow

from ..support.browser import run_jobs
from ..support.env import free_port

# One context per kind: every value must show up in the message.
CONTEXTS = {
    "verify_email": {"code": "314159", "nickname": "Mina", "minutes": 5},
    "email_change": {"code": "271828", "nickname": "Mina", "minutes": 5},
    "password_reset": {"link": "http://localhost/reset/tok3n-value", "nickname": "Mina", "minutes": 60},
    "password_changed": {"nickname": "Mina"},
    "account_withdrawn": {"nickname": "Mina", "days": 30},
    "receipt": {"nickname": "Mina", "order_id": "7f0c3c6e-0000-4000-8000-000000000001", "first_title": "Hades", "more": 0,
                "total": 24000, "subtotal": 24000, "discount": 0, "paid_at": "2026-11-21T00:00:00+00:00",
                "lines": [{"title": "Hades", "price": 24000, "list_price": 30000}]},
}
CONTEXTS["vip_upgrade"] = {"nickname": "Mina", "grade": "GOLD", "month": "2026-10", "bonus": 3000}
CONTEXTS["vip_downgrade"] = {"nickname": "Mina", "grade": "SILVER", "previous": "VIP", "month": "2026-10",
                             "bonus": 1000, "regain_at": 300000}
# As queued before orders kept their first title: an English order_name, shown as it is.
CONTEXTS["refund"] = {"nickname": "Mina", "order_id": "7f0c3c6e-0000-4000-8000-000000000002",
                      "order_name": "Hades", "total": 24000, "refunded_at": "2026-11-22T00:00:00+00:00"}
CONTEXTS["line_refund"] = {"nickname": "Mina", "order_id": "7f0c3c6e-0000-4000-8000-000000000003", "title": "Celeste",
                           "amount": 8334, "points": 1500, "order_refunded": False}
CONTEXTS["game_delisted"] = {"nickname": "Studio", "title": "Hollow <Knight>", "reason": "Cover art breaks the rules",
                             "link": "http://127.0.0.1:5000/publisher/games/7/edit"}
CONTEXTS["gift_received"] = {"giver": "Santa", "title": "Hades", "message": "Have fun in the underworld",
                             "link": "http://127.0.0.1:5000/gifts/claim/s1gned.t0ken"}
CONTEXTS["gift_owned"] = {"nickname": "Santa", "title": "Hades", "email": "friend@example.com",
                          "link": "http://127.0.0.1:5000/gifts"}
CONTEXTS["preorder_released"] = {"nickname": "Mina", "title": "Hades", "link": "http://127.0.0.1:5000/games/hades"}
CONTEXTS["build_published"] = {"nickname": "Mina", "title": "Hades", "version": "1.2.0", "platform": "macos",
                               "link": "http://127.0.0.1:5000/library"}
# What a reader must see, where the context holds numbers or structures.
SHOWN = {"receipt": ["Mina", "7f0c3c6e-0000-4000-8000-000000000001", "Hades", "₩24,000", "₩30,000"],
         "vip_upgrade": ["Mina", "GOLD", "October 2026", "3,000"],
         "vip_downgrade": ["Mina", "SILVER", "VIP", "October 2026", "1,000", "₩300,000"],
         "refund": ["Mina", "7f0c3c6e-0000-4000-8000-000000000002", "Hades", "₩24,000"],
         "line_refund": ["Mina", "7f0c3c6e-0000-4000-8000-000000000003", "Celeste", "₩8,334", "1,500 points"],
         "game_delisted": ["Studio", "Cover art breaks the rules", "/publisher/games/7/edit"],
         "preorder_released": ["Mina", "Hades", "http://127.0.0.1:5000/games/hades"],
         "build_published": ["Mina", "Hades", "1.2.0", "macOS", "http://127.0.0.1:5000/library"]}
# The subjects an English reader gets for CONTEXTS.
SUBJECTS_EN = {
    "verify_email": "Your Playcation verification code: 314159",
    "email_change": "Confirm your new Playcation email: 271828",
    "password_reset": "Reset your Playcation password",
    "password_changed": "Your Playcation password was changed",
    "account_withdrawn": "Your Playcation account was closed",
    "receipt": "Your Playcation receipt: Hades",
    "vip_upgrade": "You reached GOLD on Playcation",
    "vip_downgrade": "Your Playcation grade for October 2026: SILVER",
    "refund": "Your Playcation refund: Hades",
    "line_refund": "Your Playcation refund: Celeste",
    "game_delisted": "“Hollow <Knight>” was removed from the Playcation store",
    "gift_received": "Santa sent you a gift on Playcation: Hades",
    "gift_owned": "Your gift of Hades can't be claimed",
    "preorder_released": "Hades is out: your pre-order is ready",
    "build_published": "Hades 1.2.0 is ready to download",
}


def _queue(app, recipient="to@example.com", kind="password_changed", locale="en", **context) -> int:
    """queue_email in its own committed transaction, as a service would. The addresses
    here belong to no account: `locale` is the language the mail is written in."""
    with app.app_context():
        entry = queue_email(recipient, kind, locale=locale, **(context or CONTEXTS[kind]))
        db.session.commit()
        return entry.id


def _log(app, log_id) -> EmailLog | None:
    with app.app_context():
        entry = db.session.get(EmailLog, log_id)
        if entry is not None:
            db.session.expunge(entry)
        return entry


def _queue_size(app) -> int:
    with app.app_context():
        return Queue(app.config["RQ_QUEUE"], connection=app.extensions["redis_raw"]).count


def _job_exists(app, log_id) -> bool:
    return Job.exists(f"email-{log_id}", connection=app.extensions["redis_raw"])


@pytest.fixture
def retry_now(app, monkeypatch):
    """Retries without waiting: a burst worker runs them at once."""
    monkeypatch.setitem(app.config, "MAIL_RETRY_INTERVALS", [0, 0])


@pytest.fixture
def smtp_down(app, monkeypatch):
    monkeypatch.setattr(app.extensions["mail"], "port", free_port())  # nothing listens there


class FlakyHandler(FolderHandler):
    """Greylists: refuses the first `failures` messages with a 4xx, then accepts."""

    def __init__(self, folder, failures=1):
        super().__init__(folder)
        self.failures = failures
        self.calls = 0

    async def handle_DATA(self, server, session, envelope):
        self.calls += 1
        if self.calls <= self.failures:
            return "451 4.7.1 Greylisted, try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def flaky_smtp(app, outbox, monkeypatch):
    handler = FlakyHandler(outbox.folder)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setattr(app.extensions["mail"], "port", port)
    yield handler
    controller.stop()


# --- delivery ----------------------------------------------------------------------

def test_delivery_marks_the_row_sent_and_clears_the_context(app, outbox):
    log_id = _queue(app, "mina@example.com", "verify_email")
    entry = _log(app, log_id)
    assert entry.status == "queued" and entry.attempts == 0 and entry.context["code"] == "314159"
    assert _job_exists(app, log_id) and _queue_size(app) == 1

    messages = outbox.deliver()
    assert [m["to"] for m in messages] == ["mina@example.com"]
    assert messages[0]["subject"] == "Your Playcation verification code: 314159"
    assert messages[0]["sender"] == "Playcation <no-reply@playcation.example>"
    entry = _log(app, log_id)
    assert entry.status == "sent" and entry.attempts == 1
    assert entry.context is None and entry.last_error is None
    assert entry.sent_at is not None and abs(utcnow() - entry.sent_at) < timedelta(minutes=1)

    with app.app_context():  # running the job again sends nothing twice
        assert deliver_email(log_id) == "skipped"
    assert len(outbox.deliver()) == 1 and _log(app, log_id).attempts == 1


def test_nothing_is_enqueued_before_the_commit(app):
    with app.app_context():
        entry = queue_email("early@example.com", "password_changed", nickname="Mina")
        assert _queue_size(app) == 0 and not _job_exists(app, entry.id)
        db.session.commit()
        assert _queue_size(app) == 1 and _job_exists(app, entry.id)


def test_smtp_down_retries_then_marks_the_row_failed(app, outbox, retry_now, smtp_down):
    log_id = _queue(app, "down@example.com")
    run_jobs(app)
    entry = _log(app, log_id)
    assert entry.status == "failed"
    assert entry.attempts == 3  # the first try and both retries
    assert "ConnectionRefusedError" in entry.last_error
    assert entry.sent_at is None
    assert entry.context == {"nickname": "Mina"}  # kept, so the mail can still be sent later
    assert outbox.messages() == []
    with app.app_context():
        failed = FailedJobRegistry(app.config["RQ_QUEUE"], connection=app.extensions["redis_raw"])
        assert f"email-{log_id}" in failed.get_job_ids()
    assert _queue_size(app) == 0


def test_a_failure_with_retries_left_is_scheduled_and_marked_retrying(app, outbox, monkeypatch, smtp_down):
    monkeypatch.setitem(app.config, "MAIL_RETRY_INTERVALS", [600])
    log_id = _queue(app, "later@example.com")
    run_jobs(app)
    entry = _log(app, log_id)
    assert entry.status == "retrying" and entry.attempts == 1 and entry.last_error
    with app.app_context():
        scheduled = ScheduledJobRegistry(app.config["RQ_QUEUE"], connection=app.extensions["redis_raw"])
        assert f"email-{log_id}" in scheduled.get_job_ids()
    assert outbox.messages() == []


def test_without_retries_one_failure_is_final(app, outbox, monkeypatch, smtp_down):
    monkeypatch.setitem(app.config, "MAIL_RETRY_INTERVALS", [])
    log_id = _queue(app, "once@example.com")
    run_jobs(app)
    entry = _log(app, log_id)
    assert entry.status == "failed" and entry.attempts == 1


def test_a_transient_failure_then_recovery_ends_sent(app, outbox, retry_now, flaky_smtp):
    log_id = _queue(app, "grey@example.com")
    run_jobs(app)
    assert flaky_smtp.calls == 2
    entry = _log(app, log_id)
    assert entry.status == "sent" and entry.attempts == 2
    assert entry.last_error is None and entry.context is None
    assert [m["to"] for m in outbox.messages()] == ["grey@example.com"]


def test_a_silent_smtp_server_times_out_instead_of_hanging_the_worker(app, monkeypatch):
    """A server that accepts the connection but never greets. MAIL_TIMEOUT must bound
    the wait; without it the worker would block until the server hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    held, stop = [], threading.Event()

    def accept_and_say_nothing():
        listener.settimeout(5)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        held.append(conn)
        stop.wait(5)
        conn.close()

    thread = threading.Thread(target=accept_and_say_nothing, daemon=True)
    thread.start()
    monkeypatch.setattr(app.extensions["mail"], "port", listener.getsockname()[1])
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 1)
    log_id = _queue(app, "silent@example.com")
    started = time.monotonic()
    try:
        with app.app_context(), pytest.raises(Exception):
            deliver_email(log_id)  # outside RQ: no retries left, so the failure is final
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert elapsed < 3
    entry = _log(app, log_id)
    assert entry.status == "failed" and "timed out" in entry.last_error


# --- transactions -------------------------------------------------------------------

def _recipients(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(EmailLog.recipient).order_by(EmailLog.id)))


def test_mail_queued_in_a_rolled_back_transaction_is_never_sent(app, outbox):
    with app.app_context():
        queue_email("ghost@example.com", "password_changed", nickname="Mina")
        db.session.rollback()
        assert _queue_size(app) == 0
        db.session.commit()  # a later commit must not send it either
        assert _queue_size(app) == 0
    assert _recipients(app) == [] and outbox.deliver() == []
    # the same path with a commit does send: the rollback is what stopped it
    with app.app_context():
        queue_email("real@example.com", "password_changed", nickname="Mina")
        db.session.commit()
    assert _queue_size(app) == 1 and _recipients(app) == ["real@example.com"]
    assert [m["to"] for m in outbox.deliver()] == ["real@example.com"]


def test_a_rolled_back_savepoint_keeps_mail_queued_before_it(app, outbox):
    with app.app_context():
        before = queue_email("before@example.com", "password_changed", nickname="Mina").id
        with pytest.raises(RuntimeError):
            with db.session.begin_nested():
                queue_email("inside@example.com", "password_changed", nickname="Mina")
                raise RuntimeError("step failed")
        db.session.commit()
    assert _job_exists(app, before) and _queue_size(app) == 1
    assert _recipients(app) == ["before@example.com"]
    assert [m["to"] for m in outbox.deliver()] == ["before@example.com"]


def test_mail_from_a_released_savepoint_waits_for_the_outer_commit(app, outbox):
    with app.app_context():
        with db.session.begin_nested():
            inner = queue_email("inner@example.com", "password_changed", nickname="Mina").id
        assert _queue_size(app) == 0  # a SAVEPOINT release is not a commit
        db.session.rollback()
    assert _queue_size(app) == 0 and _recipients(app) == []
    assert outbox.deliver() == []

    with app.app_context():
        with db.session.begin_nested():
            inner = queue_email("inner@example.com", "password_changed", nickname="Mina").id
        db.session.commit()
    assert _job_exists(app, inner)
    assert [m["to"] for m in outbox.deliver()] == ["inner@example.com"]


# --- the sweeper ----------------------------------------------------------------------

def _backdate(app, log_id, minutes=10):
    with app.app_context():
        db.session.get(EmailLog, log_id).created_at = utcnow() - timedelta(minutes=minutes)
        db.session.commit()


def _insert_without_job(app, status="queued", minutes_ago=10, attempts=0) -> int:
    """A row whose job never reached Redis (Redis down at commit, or it lost its data)."""
    with app.app_context():
        entry = EmailLog(recipient="lost@example.com", kind="password_changed",
                         subject="Your Playcation password was changed", context={"nickname": "Mina"}, locale="en",
                         status=status, attempts=attempts,
                         created_at=utcnow() - timedelta(minutes=minutes_ago))
        db.session.add(entry)
        db.session.commit()
        return entry.id


def _requeue(app) -> int:
    with app.app_context():
        return requeue_stale_emails()


@pytest.mark.parametrize("status", ["queued", "retrying"])
def test_sweeper_requeues_mail_whose_job_was_lost(app, outbox, status):
    log_id = _insert_without_job(app, status=status, attempts=0 if status == "queued" else 1)
    assert not _job_exists(app, log_id)
    assert _requeue(app) == 1
    assert _job_exists(app, log_id)
    assert _requeue(app) == 0  # its job is in Redis now: no duplicate
    assert [m["to"] for m in outbox.deliver()] == ["lost@example.com"]
    entry = _log(app, log_id)
    assert entry.status == "sent" and entry.context is None
    assert _requeue(app) == 0


def test_sweeper_leaves_fresh_sent_failed_and_enqueued_mail_alone(app, outbox):
    _insert_without_job(app, minutes_ago=0)  # its commit may still be enqueueing it
    _insert_without_job(app, status="sent")
    _insert_without_job(app, status="failed", attempts=3)
    enqueued = _queue(app, "waiting@example.com")
    _backdate(app, enqueued)  # old, but its job is waiting in Redis
    assert _requeue(app) == 0
    assert _queue_size(app) == 1


def test_redis_down_at_commit_keeps_the_row_for_the_sweeper(app, outbox, monkeypatch):
    dead = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5,
                           retry=Retry(NoBackoff(), 0))
    with monkeypatch.context() as m:
        m.setitem(app.extensions, "redis_raw", dead)
        log_id = _queue(app, "patient@example.com")  # the commit succeeds regardless
    entry = _log(app, log_id)
    assert entry is not None and entry.status == "queued"
    assert not _job_exists(app, log_id) and outbox.deliver() == []
    _backdate(app, log_id)
    assert _requeue(app) == 1
    assert [m["to"] for m in outbox.deliver()] == ["patient@example.com"]
    assert _log(app, log_id).status == "sent"


def test_the_relay_enqueues_only_missing_jobs_chunk_by_chunk(app, outbox, monkeypatch):
    import shop.infra.mail

    monkeypatch.setattr(shop.infra.mail, "RELAY_CHUNK", 2)
    lost = [_insert_without_job(app, minutes_ago=0) for _ in range(5)]
    waiting = _queue(app, "waiting@example.com")  # its job is in Redis already
    with app.app_context():
        assert relay_emails(lost + [waiting]) == 5
        assert relay_emails(lost + [waiting]) == 0
    assert all(_job_exists(app, log_id) for log_id in lost)
    assert sorted(m["to"] for m in outbox.deliver()) == ["lost@example.com"] * 5 + ["waiting@example.com"]


def test_the_bulk_relay_job_takes_its_own_kinds_only(app, outbox):
    first = _insert_without_job(app, minutes_ago=0)
    with app.app_context():  # another transaction's row lands inside the range
        other = EmailLog(recipient="other@example.com", kind="verify_email", subject="code",
                         context=CONTEXTS["verify_email"], status="queued", attempts=0)
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    last = _insert_without_job(app, minutes_ago=0)
    with app.app_context():
        assert relay_queued_emails(first, last, ["password_changed"]) == 2
    assert not _job_exists(app, other_id)
    assert [m["to"] for m in outbox.deliver()] == ["lost@example.com"] * 2


# --- templates ------------------------------------------------------------------------

def test_every_kind_has_a_test_context():
    assert set(CONTEXTS) == set(SUBJECTS) == set(SUBJECTS_EN)


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_every_kind_renders_text_and_html(app, outbox, kind):
    context = CONTEXTS[kind]
    _queue(app, "kinds@example.com", kind, **context)
    [msg] = outbox.deliver()
    assert msg["subject"] == SUBJECTS_EN[kind]
    assert msg["text"].strip() and msg["html"].strip()
    assert '<html lang="en">' in msg["html"] and "<html" not in msg["text"]
    for value in SHOWN.get(kind) or context.values():
        assert str(value) in msg["text"], (kind, value)
        assert str(value) in msg["html"], (kind, value)


def test_html_mail_escapes_what_users_typed(app, outbox):
    _queue(app, "esc@example.com", "password_changed", nickname="<b>Tom & Jerry</b>")
    [msg] = outbox.deliver()
    assert "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in msg["html"] and "<b>Tom" not in msg["html"]
    assert "<b>Tom & Jerry</b>" in msg["text"]


def test_unknown_kind_is_refused(app):
    with app.app_context(), pytest.raises(ValueError):
        queue_email("x@example.com", "newsletter")
