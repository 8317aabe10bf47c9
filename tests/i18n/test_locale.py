"""Which language a request speaks, the switcher, and money and dates in each language."""
from datetime import datetime, timedelta, timezone

import pytest

from shop.extensions import db
from shop.web import i18n


def locale_of(app, user_id: int) -> str | None:
    from shop.accounts.models import User

    with app.app_context():
        return db.session.get(User, user_id).locale


def lang_of(page) -> str:
    import re

    return re.search(r'<html lang="([a-z]+)"', page.get_data(as_text=True)).group(1)


def test_korean_when_nothing_says_otherwise(client):
    assert lang_of(client.get("/", headers={"Accept-Language": ""})) == "ko"


@pytest.mark.parametrize("header, expected", [
    ("en-US,en;q=0.9", "en"), ("ko-KR,ko;q=0.9,en;q=0.8", "ko"), ("fr-FR,fr;q=0.9", "ko"),
    ("fr;q=0.9,en;q=0.5", "en"), ("x" * 3000, "ko"), ("en;q=abc", "ko"),
])
def test_accept_language_picks_among_korean_and_english(client, header, expected):
    assert lang_of(client.get("/", headers={"Accept-Language": header})) == expected


def test_the_switcher_sets_a_cookie_that_beats_accept_language(browser):
    res = browser.post("/language", {"lang": "en"}, headers={"Referer": "http://localhost/games?page=2"})
    assert res.status_code == 302 and res.headers["Location"] == "/games?page=2"
    assert "lang=en" in res.headers["Set-Cookie"] and "HttpOnly" in res.headers["Set-Cookie"]
    assert lang_of(browser.get("/", headers={"Accept-Language": "ko-KR"})) == "en"


def test_the_switcher_needs_csrf_and_a_known_language(browser):
    res = browser.post("/language", {"lang": "en"}, csrf=False)
    assert res.status_code == 400 and "lang=" not in res.headers.get("Set-Cookie", "")
    for bad in ("fr", "", "en" * 50, "../en"):
        res = browser.post("/language", {"lang": bad}, headers={"Referer": "https://evil.example/x"})
        assert res.status_code == 302 and res.headers["Location"] == "/"  # no open redirect
        assert "lang=" not in res.headers.get("Set-Cookie", "")
    assert lang_of(browser.get("/", headers={"Accept-Language": ""})) == "ko"


def test_a_logged_in_choice_is_the_accounts_and_follows_it_to_another_browser(app, browser, make_user):
    user = make_user(email="lang@example.com")
    assert browser.login("lang@example.com").status_code == 302
    browser.post("/language", {"lang": "en"})
    assert locale_of(app, user.id) == "en"
    other = type(browser)(app)  # a second browser: no cookie, a Korean Accept-Language
    other.login("lang@example.com")
    assert lang_of(other.get("/", headers={"Accept-Language": "ko"})) == "en"
    other.post("/language", {"lang": "ko"})
    assert locale_of(app, user.id) == "ko"


def test_won_reads_as_each_language_writes_it(app):
    assert i18n.won(12000, "ko") == "12,000원"
    assert i18n.won(12000, "en") == "₩12,000"
    assert i18n.won(0, "ko") == "0원" and i18n.won(None, "en") == "₩0"


def test_dates_are_in_korea_time_in_each_language(app):
    instant = datetime(2026, 12, 2, 6, 5, tzinfo=timezone.utc)  # 15:05 in Seoul, a Wednesday
    assert i18n.datetime_kst(instant, locale="ko") == "2026년 12월 2일 (수) 오후 3:05"
    assert i18n.datetime_kst(instant, locale="en") == "Wed, Dec 2, 2026, 3:05 PM"
    assert i18n.datetime_kst(instant, "date", locale="ko") == "2026년 12월 2일 (수)"
    assert i18n.datetime_kst(instant, "%Y-%m-%d %H:%M") == "2026-12-02 15:05"
    from datetime import date

    assert i18n.datetime_kst(date(2017, 3, 3), "date", locale="ko") == "2017년 3월 3일 (금)"
    assert i18n.datetime_kst(date(2017, 3, 3), "%Y-%m-%d") == "2017-03-03"
    late = datetime(2026, 12, 2, 16, 30, tzinfo=timezone.utc)  # already the 3rd in Seoul
    assert i18n.datetime_kst(late, "date", locale="en") == "Thu, Dec 3, 2026"


def test_relative_times_and_plurals(app):
    now = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
    assert i18n.ago(now - timedelta(minutes=3), now, "ko") == "3분 전"
    assert i18n.ago(now - timedelta(minutes=1), now, "en") == "1 minute ago"
    assert i18n.ago(now - timedelta(minutes=3), now, "en") == "3 minutes ago"
    assert i18n.ago(now + timedelta(hours=2), now, "ko") == "2시간 후"
    assert i18n.ago(now - timedelta(seconds=10), now, "ko") == "방금"
