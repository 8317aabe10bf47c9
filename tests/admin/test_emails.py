"""The email log: filters, pages, and resending a failed email (which then really goes out
through the SMTP sink), who may, and CSRF."""
import re
from html import unescape

import pytest
from rq.registry import FailedJobRegistry

from shop.extensions import db
from shop.infra.redisconn import redis_clients
from shop.infra.mail import EmailLog, queue_email

from tests.support.env import free_port
from ..support.browser import run_jobs


def add_emails(app, *rows) -> list[int]:
    """EmailLog rows straight into the database: (recipient, kind, status)."""
    with app.app_context():
        entries = [EmailLog(recipient=r, kind=k, subject=f"{k} for {r}", status=s, attempts=1, context={"nickname": "X"})
                   for r, k, s in rows]
        db.session.add_all(entries)
        db.session.commit()
        return [e.id for e in entries]


def listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-email="(\d+)">', html)]


def failed_delivery(app, monkeypatch, to="dana@example.com") -> int:
    """Queue a password-changed mail while the SMTP server is unreachable and retries are
    off: the worker's one attempt fails and marks the row failed (a real failure)."""
    monkeypatch.setattr(app.extensions["mail"], "port", free_port())  # nothing listens there
    monkeypatch.setitem(app.config, "MAIL_RETRY_INTERVALS", [])
    with app.app_context():
        entry = queue_email(to, "password_changed", locale="en", nickname="Dana")  # no account: English as asked
        db.session.commit()
        email_id = entry.id
    run_jobs(app)
    monkeypatch.undo()
    return email_id


def status_of(app, email_id):
    with app.app_context():
        e = db.session.get(EmailLog, email_id)
        return e.status, e.attempts


def failed_job_ids(app):
    with app.app_context():
        return FailedJobRegistry(app.config["RQ_QUEUE"], connection=redis_clients.raw).get_job_ids()


# --- who may ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role, status", [("admin", 200), ("publisher", 403), ("customer", 403), ("anonymous", 302)])
def test_only_admins_see_the_email_log(login_as, role, status):
    res = login_as(role).get("/admin/emails")
    assert res.status_code == status
    if role == "anonymous":
        assert res.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role, status", [("publisher", 403), ("customer", 403), ("anonymous", 302)])
def test_only_admins_resend(app, login_as, role, status):
    (email_id,) = add_emails(app, ("a@example.com", "receipt", "failed"))
    assert login_as(role).post(f"/admin/emails/{email_id}/resend").status_code == status
    assert status_of(app, email_id) == ("failed", 1)


def test_resend_needs_the_csrf_token(app, admin_browser, audit_rows):
    (email_id,) = add_emails(app, ("a@example.com", "receipt", "failed"))
    assert admin_browser.post(f"/admin/emails/{email_id}/resend", csrf=False).status_code == 400
    assert status_of(app, email_id) == ("failed", 1) and audit_rows(action="email.resend") == []


# --- the list --------------------------------------------------------------------------------

def test_filters_by_status_kind_and_recipient(app, admin_browser):
    ids = add_emails(app, ("ann@example.com", "receipt", "sent"), ("ann@example.com", "verify_email", "failed"),
                     ("bob@sample.org", "receipt", "failed"), ("cy@example.com", "password_reset", "queued"))
    assert listed(admin_browser.page("/admin/emails")) == ids[::-1]
    assert listed(admin_browser.page("/admin/emails?status=failed")) == [ids[2], ids[1]]
    assert listed(admin_browser.page("/admin/emails?kind=receipt")) == [ids[2], ids[0]]
    assert listed(admin_browser.page("/admin/emails?recipient=ANN@")) == [ids[1], ids[0]]
    assert listed(admin_browser.page("/admin/emails?recipient=sample.org&status=failed&kind=receipt")) == [ids[2]]
    assert listed(admin_browser.page("/admin/emails?recipient=%25")) == []  # a wildcard is a plain character
    # Unknown values filter nothing rather than fail.
    assert listed(admin_browser.page("/admin/emails?status=bogus&kind=nope&page=x")) == ids[::-1]
    html = admin_browser.page("/admin/emails?status=failed")
    assert 'Failed: <strong>2</strong>' in html and '<option value="failed" selected>' in html
    # Only failed rows get a Resend button.
    assert html.count('>Resend</button>') == 2


def test_pages_of_fifty_keep_the_filters(app, admin_browser):
    ids = add_emails(app, *[(f"p{n}@example.com", "receipt", "sent") for n in range(55)])
    first = admin_browser.page("/admin/emails?kind=receipt")
    assert listed(first) == ids[::-1][:50]
    assert 'href="/admin/emails?kind=receipt&amp;page=2"' in first
    assert listed(admin_browser.page("/admin/emails?kind=receipt&page=2")) == ids[::-1][50:]
    assert listed(admin_browser.page("/admin/emails?kind=receipt&page=9")) == ids[::-1][50:]  # the last page


# --- resend ----------------------------------------------------------------------------------

def test_resend_delivers_a_failed_email_through_smtp(app, admin_browser, outbox, monkeypatch, audit_rows):
    email_id = failed_delivery(app, monkeypatch)
    assert status_of(app, email_id) == ("failed", 1)
    assert failed_job_ids(app) == [f"email-{email_id}"]
    assert outbox.messages() == []

    res = admin_browser.post(f"/admin/emails/{email_id}/resend", {"next": "/admin/emails?status=failed"})
    assert res.status_code == 302 and res.headers["Location"] == "/admin/emails?status=failed"
    assert status_of(app, email_id) == ("queued", 1)
    assert failed_job_ids(app) == []  # the old failure makes way for the new job
    assert "queued again" in admin_browser.flashes()

    messages = outbox.deliver()
    assert [m["to"] for m in messages] == ["dana@example.com"]
    assert "Your Playcation password was changed" in messages[0]["subject"]
    assert "Hi Dana" in messages[0]["text"]
    assert status_of(app, email_id) == ("sent", 2)
    (row,) = audit_rows(action="email.resend")
    assert (row.target_type, row.target_id, row.actor_id) == ("email", str(email_id), admin_browser.user.id)
    assert (row.before, row.after) == ({"status": "failed"}, {"status": "queued"})


@pytest.mark.parametrize("status", ["sent", "queued", "retrying"])
def test_only_failed_emails_can_be_resent(app, admin_browser, status, audit_rows):
    (email_id,) = add_emails(app, ("a@example.com", "receipt", status))
    res = admin_browser.post(f"/admin/emails/{email_id}/resend")
    assert res.status_code == 302
    assert f"Only failed emails can be resent; this one is {status}." in unescape(admin_browser.flashes())
    assert status_of(app, email_id) == (status, 1) and audit_rows(action="email.resend") == []


def test_a_failed_email_without_its_content_is_not_resent(app, admin_browser):
    (email_id,) = add_emails(app, ("a@example.com", "receipt", "failed"))
    with app.app_context():
        db.session.get(EmailLog, email_id).context = None
        db.session.commit()
    admin_browser.post(f"/admin/emails/{email_id}/resend")
    assert "can't be resent" in unescape(admin_browser.flashes())
    assert status_of(app, email_id) == ("failed", 1)


def test_resending_a_missing_email_is_404(admin_browser):
    assert admin_browser.post("/admin/emails/999999/resend").status_code == 404


def test_next_must_stay_on_the_email_log(app, admin_browser):
    (email_id,) = add_emails(app, ("a@example.com", "receipt", "failed"))
    res = admin_browser.post(f"/admin/emails/{email_id}/resend", {"next": "https://evil.example/"})
    assert res.headers["Location"] == "/admin/emails"
