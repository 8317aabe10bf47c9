"""The account page's loyalty card and /grades, which explains grades, points and cashback
with the figures from the app config."""
import re

import pytest

from shop.extensions import db
from shop.loyalty.models import VipGrade

from ..support.browser import Browser
from ..support.orders import session_login


def _browser_for(app, user):
    browser = Browser(app)
    session_login(app, browser, user.id)
    return browser


def _set_grade(app, user_id, grade, month="2026-10"):
    with app.app_context():
        db.session.add(VipGrade(user_id=user_id, month=month, grade=grade, paid_total=0))
        db.session.commit()


def test_the_loyalty_card_names_the_grade_and_links_the_explanation(app, make_user):
    user = make_user()
    _set_grade(app, user.id, "GOLD")
    page = _browser_for(app, user).get("/account").get_data(as_text=True)
    card = re.search(r'<div class="loyalty-card">.*?</div>', page, re.S).group(0)
    assert re.search(r'Your grade: <span class="grade grade-gold">GOLD</span>', card)
    assert '<a href="/grades">How grades, points and cashback work</a>' in card


def _rows(page: str) -> dict[str, list[str]]:
    table = re.search(r'<table class="grade-table">.*?</table>', page, re.S).group(0)
    rows = {}
    for grade, cells in re.findall(r'data-grade="(\w+)">(.*?)</tr>', table, re.S):
        rows[grade] = [re.sub(r"\s+", " ", c).strip() for c in re.findall(r'<td class="num">(.*?)</td>', cells, re.S)]
    return rows


def test_grades_page_takes_every_figure_from_the_config(app, client):
    page = client.get("/grades")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _rows(html) == {
        "BRONZE": ["Any amount", "—", "—"],
        "SILVER": ["₩50,000 or more", "1,000 P", "1%"],
        "GOLD": ["₩150,000 or more", "3,000 P", "2%"],
        "VIP": ["₩300,000 or more", "10,000 P", "3%"],
    }
    assert "up to 50% of an order" in html and "valid for 12 months" in html
    assert "Your grade" not in html  # nobody is logged in


@pytest.fixture
def changed_config(app):
    saved = {k: app.config[k] for k in ("VIP_THRESHOLDS", "VIP_CASHBACK_PERCENT", "POINTS_MAX_SHARE_PERCENT")}
    app.config.update(VIP_THRESHOLDS={"SILVER": 10_000, "GOLD": 20_000, "VIP": 40_000},
                      VIP_CASHBACK_PERCENT={"BRONZE": 0, "SILVER": 4, "GOLD": 5, "VIP": 7},
                      POINTS_MAX_SHARE_PERCENT=30)
    yield
    app.config.update(saved)


def test_grades_page_follows_a_changed_config(app, client, changed_config):
    html = client.get("/grades").get_data(as_text=True)
    assert _rows(html)["VIP"] == ["₩40,000 or more", "10,000 P", "7%"]
    assert "up to 30% of an order" in html


def test_a_member_sees_their_own_grade_marked(app, make_user):
    user = make_user()
    _set_grade(app, user.id, "SILVER")
    html = _browser_for(app, user).get("/grades").get_data(as_text=True)
    assert re.search(r'Your grade: <span class="grade grade-silver">SILVER</span>', html)
    assert re.search(r'<tr aria-current="true" class="current" data-grade="SILVER">', html)
    assert html.count('aria-current="true" class="current"') == 1  # (the language switcher marks its own)
