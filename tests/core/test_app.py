"""Configuration, error pages, security headers and the dev inbox."""
import pytest

from shop import create_app
from shop.config import DEFAULT_SECRET_KEY, ProductionConfig

from tests.support.env import DATABASE_URL, REDIS_URL


def test_production_refuses_the_default_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig, SECRET_KEY=DEFAULT_SECRET_KEY)


def test_production_starts_with_a_real_secret_key_and_has_no_dev_inbox():
    app = create_app(ProductionConfig, SECRET_KEY="s" * 40, SQLALCHEMY_DATABASE_URI=DATABASE_URL, REDIS_URL=REDIS_URL)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.test_client().get("/dev/inbox").status_code == 404


def test_unknown_app_env_is_refused(monkeypatch):
    from shop.config import config_from_env

    monkeypatch.setenv("APP_ENV", "staging-typo")
    with pytest.raises(RuntimeError, match="APP_ENV"):
        config_from_env()


def test_404_page_is_in_the_site_design(client):
    res = client.get("/no/such/page")
    assert res.status_code == 404
    text = res.get_data(as_text=True)
    assert "Page not found" in text and 'class="site-header"' in text


def test_json_clients_get_json_errors(client):
    res = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert res.status_code == 404 and res.get_json()["error"] == "Page not found"


def test_security_headers(client):
    res = client.get("/")
    assert res.headers["X-Frame-Options"] == "DENY"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert "HX-Request" in res.headers.get("Vary", "")


def test_every_page_carries_the_csrf_token_for_htmx(client):
    text = client.get("/").get_data(as_text=True)
    assert 'hx-headers=\'{"X-CSRFToken": "' in text


def test_dev_inbox_lists_mail_in_development(browser, outbox):
    browser.signup(email="inbox@example.com")
    outbox.deliver()
    page = browser.get("/dev/inbox").get_data(as_text=True)
    assert "inbox@example.com" in page and "verification code" in page
    msg_id = outbox.messages()[0]["id"]
    detail = browser.get(f"/dev/inbox/{msg_id}")
    assert detail.status_code == 200 and "It works once" in detail.get_data(as_text=True)
    assert browser.get("/dev/inbox/nope").status_code == 404


def test_times_are_shown_in_seoul():
    from datetime import datetime, timezone

    from shop.timeutil import format_seoul

    assert format_seoul(datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)) == "2026-11-21 00:30"
