"""The admin's Live traffic page (/admin/live): admins only, the current levels on the
page, and rates that follow real traffic on its SSE stream, in English and Korean."""
import re

import pytest
from rq import Queue

from shop.extensions import db
from shop.infra import livestats
from shop.infra.mail import queue_email

FIGURE = re.compile(r'id="live-(\w+)">([^<]*)<')


def _figures(html: str) -> dict:
    return dict(FIGURE.findall(html))


def _next_figures(chunks, limit=60) -> str:
    seen = ""
    for _ in range(limit):
        seen += next(chunks).decode()
        if "event: figures" in seen and seen.endswith("\n\n"):
            return seen
    raise AssertionError(f"no figures event in {seen!r}")


@pytest.fixture
def fast(app, monkeypatch):
    monkeypatch.setitem(app.config, "ADMIN_LIVE_SECONDS", 0.3)


@pytest.mark.parametrize("role, status", [("admin", 200), ("publisher", 403), ("customer", 403), ("anonymous", 302)])
@pytest.mark.parametrize("url", ["/admin/live", "/admin/live/stream"])
def test_only_admins_see_live_traffic(login_as, role, status, url):
    res = login_as(role).client.get(url, buffered=False)
    try:
        assert res.status_code == status
        if role == "anonymous":
            assert res.headers["Location"].startswith("/login")
    finally:
        res.close()


def test_the_page_shows_current_levels_and_is_linked_in_the_admin_nav(app, admin_browser):
    with app.app_context():
        queue_email("live@example.com", "password_changed", nickname="Mina")
        db.session.commit()
    Queue("live-test", connection=app.extensions["redis_raw"]).enqueue("os.getpid")
    html = admin_browser.page("/admin/live")
    figures = _figures(html)
    assert figures["outbox"] == "1" and int(figures["jobs"]) >= 1  # the email's job and ours
    assert figures["rps"] == "–"  # no interval yet: rates come with the stream
    assert 'sse-connect="/admin/live/stream"' in html and 'sse-swap="figures"' in html
    assert '<a href="/admin/live" aria-current="page">Live traffic</a>' in html
    assert "live-test" in html


def test_the_stream_sends_rates_that_follow_requests(app, admin_browser, fast):
    res = admin_browser.client.get("/admin/live/stream", buffered=False)
    assert res.status_code == 200 and res.mimetype == "text/event-stream"
    chunks = iter(res.response)
    first = _figures(_next_figures(chunks))
    assert float(first["streams"]) >= 1  # this very stream
    for _ in range(30):
        assert admin_browser.client.get("/login").status_code in (200, 302)
    later = [_figures(_next_figures(chunks)) for _ in range(2)]
    assert max(float(f["rps"]) for f in later) > 0
    assert any(f["p95"].endswith("ms") for f in later)
    res.close()


def test_korean_admin_reads_the_page_in_korean(login_as, fast):
    admin = login_as("admin", locale="ko")
    html = admin.page("/admin/live")
    assert "실시간 트래픽" in html and "초당 요청 수" in html and "Requests per second" not in html
    res = admin.client.get("/admin/live/stream", buffered=False)
    frame = _next_figures(iter(res.response))
    assert "초당 요청 수" in frame and "Requests per second" not in frame
    res.close()


def test_quantile_interpolates_like_prometheus():
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, float("inf"): 100.0}
    assert livestats.quantile(0.5, buckets) == pytest.approx(0.1)
    assert livestats.quantile(0.95, buckets) == pytest.approx(0.75)
    assert livestats.quantile(0.95, {0.1: 0.0, float("inf"): 0.0}) is None
    assert livestats.quantile(0.99, {0.1: 1.0, float("inf"): 10.0}) == 0.1  # beyond the last bound


def test_figures_are_rates_over_the_interval():
    before = {"at": 10.0, "requests": 100.0, "errors": 0.0, "claims": 4.0, "claimed": 2.0, "streams": 3.0,
              "buckets": {0.05: 100.0, float("inf"): 100.0}, "queues": {}, "failed_jobs": {}, "outbox": 0,
              "outbox_oldest": 0.0, "unpersisted": 0}
    after = dict(before, at=12.0, requests=120.0, errors=2.0, claims=10.0, claimed=4.0,
                 buckets={0.05: 110.0, float("inf"): 120.0})
    f = livestats.figures(before, after)
    assert f["rps"] == 10 and f["errors_per_s"] == 1 and f["claims_per_s"] == 3 and f["claimed_per_s"] == 1
    assert f["p95_ms"] == 50.0
    assert livestats.figures(None, after)["rps"] is None
