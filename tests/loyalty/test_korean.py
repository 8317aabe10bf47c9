"""Grades, points and cashback in Korean: the /grades page, the grade names, the points
field at checkout, and ledger lines said again in the reader's language."""
import re
from types import SimpleNamespace

from shop.loyalty.labels import grade_name, point_note
from shop.web.i18n import in_locale

from .test_views import _browser_for, _rows, _set_grade


def test_the_grades_page_in_korean(app, client):
    html = client.get("/grades", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert '<html lang="ko"' in html and "<h1>등급, 포인트, 캐시백</h1>" in html
    assert _rows(html) == {
        "BRONZE": ["금액 무관", "—", "—"],
        "SILVER": ["50,000원 이상", "1,000 P", "1%"],
        "GOLD": ["150,000원 이상", "3,000 P", "2%"],
        "VIP": ["300,000원 이상", "10,000 P", "3%"],
    }
    assert '<span class="grade grade-silver">실버</span>' in html and "모든 회원은 브론즈 등급에서 시작합니다." in html
    assert "주문 금액의 최대 50%까지" in html and "1 P는 1원으로" in html and "12개월간 유효합니다" in html
    assert ">무료 회원가입</a>" in html and "Grades, points" not in html


def test_a_korean_member_sees_their_grade_and_progress_in_korean(app, make_user):
    user = make_user(locale="ko")
    _set_grade(app, user.id, "SILVER")
    html = _browser_for(app, user).get("/grades").get_data(as_text=True)
    assert re.search(r'내 등급: <span class="grade grade-silver">실버</span>', html)
    assert "보유 포인트는 <strong>0 P</strong>입니다." in html
    assert "이번 달 구매 금액은 0원입니다. 50,000원을 더 구매하면 다음 달에 실버 등급이 됩니다." in html
    assert "(내 등급)" in html


def test_grade_names_and_ledger_lines_in_each_language(app):
    lines = [SimpleNamespace(note="Monthly GOLD bonus", kind="earn_grade"),
             SimpleNamespace(note="3% cashback", kind="earn_cashback"),
             SimpleNamespace(note="Used at checkout", kind="spend"),
             SimpleNamespace(note=None, kind="expire")]
    with app.test_request_context("/"):
        with in_locale("ko"):
            assert [grade_name(g) for g in ("BRONZE", "SILVER", "GOLD", "VIP", "NEW")] == [
                "브론즈", "실버", "골드", "VIP", "NEW"]
            assert [point_note(e) for e in lines] == ["월간 골드 등급 보너스", "3% 캐시백", "결제 시 사용", "만료"]
        with in_locale("en"):
            assert [point_note(e) for e in lines] == ["Monthly GOLD bonus", "3% cashback", "Used at checkout",
                                                      "Expired"]


def test_the_points_field_at_checkout_in_korean(app, make_user):
    from ..support.orders import Shopper, new_game

    shopper = Shopper(app, make_user(locale="ko"))
    shopper.add(new_game(app, "Celeste", price=12000))
    html = shopper.browser.get("/checkout").get_data(as_text=True)
    assert "포인트" in html and "0 P 사용 가능, 주문 금액의 최대 50%까지" in html
    assert "쿠폰 사용 안 함" in html or "사용할 수 있는 쿠폰이 없습니다" in html
