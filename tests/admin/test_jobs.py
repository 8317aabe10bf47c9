"""The jobs page (schedule, run now, failed jobs) and the RQ dashboard mounted at /admin/rq
behind the admin check."""
import re
from html import unescape

import pytest
from rq.job import Job

from shop.infra.redisconn import redis_clients
from shop.infra.jobs import CRON, get_queue

from ..support.browser import run_jobs


def fail_a_job(app, job_id="doomed", text="{not json"):
    """A job that really fails in the worker (json.loads of bad text raises)."""
    with app.app_context():
        get_queue().enqueue("json.loads", text, job_id=job_id)
    run_jobs(app)
    return job_id


def queued(app) -> int:
    with app.app_context():
        return get_queue().count


# --- who may ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role, status", [("admin", 200), ("publisher", 403), ("customer", 403), ("anonymous", 302)])
@pytest.mark.parametrize("url", ["/admin/jobs", "/admin/rq/", "/admin/rq/0/view/workers", "/admin/rq/0/view/jobs", "/admin/rq/0/data/queues.json"])
def test_only_admins_see_jobs_and_the_rq_dashboard(login_as, role, status, url):
    res = login_as(role).get(url)
    assert res.status_code == status, url
    if role == "anonymous":
        assert res.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role, status", [("publisher", 403), ("customer", 403), ("anonymous", 302)])
def test_only_admins_run_jobs(app, login_as, role, status):
    assert login_as(role).post("/admin/jobs", {"job": "points-expire"}).status_code == status
    assert queued(app) == 0


# --- the page --------------------------------------------------------------------------------

def test_the_schedule_lists_every_cron_job(admin_browser):
    html = admin_browser.page("/admin/jobs")
    for job_id, cron, func in CRON:
        assert f"<strong>{job_id}</strong>" in html and f"<code>{cron}</code>" in html and func in html
    assert html.count(">Run now</button>") == len(CRON)
    assert 'href="/admin/rq/"' in html
    assert "No failed jobs." in html and '<span class="figure" id="failed-count">0</span>' in html


def test_run_now_queues_the_job_and_audits_it(app, admin_browser, audit_rows):
    res = admin_browser.post("/admin/jobs", {"job": "points-expire"})
    assert res.status_code == 302 and res.headers["Location"] == "/admin/jobs"
    assert "points-expire queued" in admin_browser.flashes()
    with app.app_context():
        (job,) = get_queue().get_jobs()
        assert job.func_name == "shop.loyalty.tasks.expire_points"
    (row,) = audit_rows(action="job.run")
    assert (row.target_type, row.target_id, row.target_label) == ("job", "points-expire", "shop.loyalty.tasks.expire_points")
    assert queued(app) == 1 and '<span class="figure" id="queued-count">1</span>' in admin_browser.page("/admin/jobs")


def test_run_now_refuses_unknown_jobs_and_missing_csrf(app, admin_browser, audit_rows):
    assert admin_browser.post("/admin/jobs", {"job": "rm-rf"}).status_code == 400
    assert admin_browser.post("/admin/jobs", {"job": "x" * 5000}).status_code == 400
    assert admin_browser.post("/admin/jobs", {"job": "points-expire"}, csrf=False).status_code == 400
    assert queued(app) == 0 and audit_rows(action="job.run") == []


def test_failed_jobs_are_counted_and_listed(app, admin_browser):
    fail_a_job(app, "first", "{not json")
    fail_a_job(app, "second", "[1, 2")
    html = unescape(admin_browser.page("/admin/jobs"))
    assert '<span class="figure bad" id="failed-count">2</span>' in html
    table = re.search(r'id="failed-jobs">(.*?)</table>', html, re.S).group(1)
    assert table.count("JSONDecodeError: Expecting") == 2 and table.count("<code>json.loads</code>") == 2
    assert table.index("second") < table.index("first")  # newest first
    assert '<span class="figure bad" id="failed-jobs">2</span>' in admin_browser.page("/admin/")


# --- the RQ dashboard ------------------------------------------------------------------------

def test_the_rq_dashboard_shows_our_queue(app, admin_browser):
    with app.app_context():
        get_queue().enqueue("shop.infra.mail.requeue_stale_emails")
    assert "RQ" in admin_browser.page("/admin/rq/")
    data = admin_browser.get("/admin/rq/0/data/queues.json").get_json()
    assert {"name": app.config["RQ_QUEUE"], "count": 1}.items() <= {
        k: v for q in data["queues"] if q["name"] == app.config["RQ_QUEUE"] for k, v in q.items()}.items()


@pytest.mark.parametrize("url", ["/admin/rq/", "/admin/rq/0/view/jobs", "/admin/rq/0/view/workers"])
def test_rq_dashboard_pages_link_back_and_load_only_what_exists(admin_browser, url):
    html = admin_browser.page(url)
    assert re.search(r"<a href=\"/admin/\"[^>]*>← Playcation admin</a>", html)
    # Every same-site address the page loads or links (its CSS, scripts and icon, rq-dashboard's
    # own navigation) answers; rq-dashboard's stock icon is /static/favicon.ico, which we lack.
    addresses = set(re.findall(r'(?:href|src)="(/[^"#]*)"', html))
    assert any(a.endswith(".css") for a in addresses) and any(a.endswith(".js") for a in addresses)
    icons = re.findall(r'<link rel="[^"]*icon[^"]*" href="([^"]+)"', html)
    assert icons and set(icons) <= addresses
    # Its action links (empty a queue, ...) are posted by its scripts: 405 to a GET, never 404.
    broken = {a: status for a in sorted(addresses)
              if (status := admin_browser.get(a, follow_redirects=True).status_code) >= 400 and status != 405}
    assert broken == {}


def test_rq_dashboard_actions_only_from_our_own_pages(app, admin_browser, login_as):
    job_id = fail_a_job(app)
    # No Origin/Referer (or another site's): refused, the job stays.
    assert admin_browser.client.post(f"/admin/rq/job/{job_id}/delete").status_code == 400
    res = admin_browser.client.post(f"/admin/rq/job/{job_id}/delete", headers={"Origin": "https://evil.example"})
    assert res.status_code == 400
    assert admin_browser.client.get("/admin/rq/requeue/test", headers={"Referer": "https://evil.example/"}).status_code == 400
    # Non-admins never reach it, even from our origin.
    customer = login_as("customer")
    assert customer.client.post(f"/admin/rq/job/{job_id}/delete", headers={"Origin": "http://localhost"}).status_code == 403
    with app.app_context():
        assert Job.exists(job_id, connection=redis_clients.raw)
    # The dashboard's own button (same origin) works.
    res = admin_browser.client.post(f"/admin/rq/job/{job_id}/delete", headers={"Origin": "http://localhost"})
    assert res.status_code == 200 and res.get_json() == {"status": "OK"}
    with app.app_context():
        assert not Job.exists(job_id, connection=redis_clients.raw)


def test_only_the_rq_dashboard_gets_a_looser_csp(admin_browser):
    """Its inline scripts and underscore.js templates need 'unsafe-inline'/'unsafe-eval';
    our own admin pages keep the site's strict policy."""
    rq_policy = admin_browser.get("/admin/rq/").headers["Content-Security-Policy"]
    assert "'unsafe-eval'" in rq_policy and "frame-ancestors 'none'" in rq_policy
    ours = admin_browser.get("/admin/jobs").headers["Content-Security-Policy"]
    assert "unsafe" not in ours.replace("style-src-attr 'unsafe-inline'", "")
