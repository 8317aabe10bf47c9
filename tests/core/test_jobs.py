"""The cron schedule: listing, and admins running a job now."""
import pytest

from shop.infra.jobs import CRON


def test_jobs_list_shows_every_job_in_seoul_time(app):
    result = app.test_cli_runner().invoke(args=["jobs", "list"])
    assert result.exit_code == 0
    for job_id, _, _ in CRON:
        assert job_id in result.output
    assert "KST" in result.output


def test_every_cron_target_imports():
    from rq.utils import import_attribute

    for _, _, func in CRON:
        assert callable(import_attribute(func))


@pytest.mark.parametrize("role,status", [("admin", 200), ("publisher", 403), ("customer", 403), (None, 302)])
def test_admin_jobs_page_access(browser, make_user, role, status):
    if role:
        browser.login(make_user(role=role).email)
    assert browser.get("/admin/jobs").status_code == status


def test_admin_runs_a_job_now(app, browser, make_user, redis):
    browser.login(make_user(role="admin").email)
    res = browser.post("/admin/jobs", {"job": "points-expire"})
    assert res.status_code == 302
    from shop.infra.jobs import get_queue

    with app.app_context():
        assert get_queue().count == 1
    assert browser.post("/admin/jobs", {"job": "nope"}).status_code == 400
    assert browser.post("/admin/jobs", {"job": "points-expire"}, csrf=False).status_code == 400


def test_the_outbox_sweeper_is_on_the_schedule(app):
    result = app.test_cli_runner().invoke(args=["jobs", "list"])
    [line] = [line for line in result.output.splitlines() if "shop.infra.mail.requeue_stale_emails" in line]
    assert "*/5 * * * *" in line


def test_the_scheduler_puts_back_cron_entries_redis_lost(app, redis):
    """A Redis restarted without persistence has no schedule; without it the sweepers
    meant to recover from that very outage would never run again."""
    from shop.infra.jobs import make_scheduler

    scheduler = make_scheduler(app)
    assert "mail-requeue-stale" in scheduler
    redis.flushdb()  # what a restart without persistence leaves
    assert "mail-requeue-stale" not in scheduler
    scheduler.enqueue_jobs()  # the scheduler's next loop
    with app.app_context():
        assert sorted(job.id for job in scheduler.get_jobs()) == sorted(job_id for job_id, _, _ in CRON)
