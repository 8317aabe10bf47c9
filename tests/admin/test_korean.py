"""The admin console and the publisher dashboard in Korean: a reader whose language is
Korean gets Korean headings, chart labels, flashes and validation messages (the codes
behind them stay as they are), and the words the scripts show come in the page's language."""
import json
import re
from datetime import timedelta
from html import unescape

from shop.extensions import db
from shop.timeutil import utcnow

from ..support.catalog import make_game
from .test_coupon_admin import form as event_form
from .test_dashboard import add_order, chart_data
from .test_publisher import browser_for

KOREAN = {"Accept-Language": "ko"}


def js_strings(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="i18n">(.*?)</script>', html, re.S).group(1))


def test_the_admin_dashboard_reads_korean(app, login_as, make_user):
    admin = login_as("admin", locale="ko")
    publisher = make_user(role="publisher")
    with app.app_context():
        game = make_game("알파 퀘스트", price=12_000, publisher_id=publisher.id)
    add_order(app, make_user().id, [game], utcnow() - timedelta(hours=1))

    html = unescape(admin.page("/admin/"))
    assert '<html lang="ko"' in html
    assert "<h1>대시보드</h1>" in html and "최근 30일 매출" in html and "결제 완료 주문 1건" in html
    assert 'id="revenue-30d">12,000원</span>' in html
    assert ">회원</a>" in html and ">감사 로그</a>" in html and ">쿠폰</a>" in html  # the section nav
    assert "진행 중이거나 예정된 쿠폰 이벤트가 없어요." in html
    chart = chart_data(html, "revenue-data")
    assert [d["label"] for d in chart["datasets"]] == ["매출", "결제 완료 주문"]
    assert chart["axes"]["y"]["title"] == "매출 (원)" and chart["axes"]["y1"]["title"] == "결제 완료 주문"


def test_the_coupon_event_form_complains_in_korean(login_as):
    admin = login_as("admin", locale="ko")
    res = admin.post("/admin/coupons", event_form(name="", quantity="0"))
    assert res.status_code == 400
    html = unescape(res.get_data(as_text=True))
    assert "꼭 입력해 주세요." in html  # the empty name
    assert "1~10000000 사이의 숫자를 입력해 주세요." in html  # quantity 0
    assert "This field is required." not in html and "Number must be" not in html
    assert "이벤트 만들기</button>" in html and ">수량" in html and ">시작 (한국 시간)" in html
    assert ">모든 게임</option>" in html and ">모든 퍼블리셔</option>" in html


def test_a_korean_admin_suspends_in_korean(app, login_as, make_user):
    admin = login_as("admin", locale="ko")
    target = make_user(email="jiwoo@example.com")
    res = admin.post(f"/admin/users/{target.id}/suspend", {"reason": "x"})
    assert res.status_code == 400 and "사유는 5~300자로 적어 주세요." in unescape(res.get_data(as_text=True))
    assert admin.post(f"/admin/users/{target.id}/suspend", {"reason": "스팸 리뷰 반복"}).status_code == 302
    assert "jiwoo@example.com 님의 계정을 정지하고 모든 기기에서 로그아웃시켰어요." in admin.flashes()
    page = unescape(admin.page(f"/admin/users/{target.id}"))
    assert '<span class="badge warn">정지됨</span>' in page
    assert "계정 정지<br><code>user.suspend</code>" in page  # the audit action, named and coded
    assert "<del>없음</del>" in page


def test_the_publisher_dashboard_charts_in_korean(app, make_user):
    publisher = make_user(role="publisher", nickname="달빛공방", locale="ko")
    with app.app_context():
        game = make_game("흰늑대", price=15_000, publisher_id=publisher.id)
    add_order(app, make_user().id, [game], utcnow() - timedelta(hours=1))

    html = unescape(browser_for(app, publisher).page("/publisher/"))
    assert "퍼블리셔 대시보드" in html and "최근 30일 판매액" in html and "판매량 (30일)" in html
    assert 'id="pub-revenue-30d">15,000원</span>' in html and '<span id="pub-views-30d">' in html
    sales = chart_data(html, "sales-data")
    assert [d["label"] for d in sales["datasets"]] == ["판매량", "판매액"]
    assert sales["axes"] == {"y": {"title": "판매량"}, "y1": {"title": "판매액 (원)", "money": True}}
    rating = chart_data(html, "rating-data")
    assert [d["label"] for d in rating["datasets"]] == ["평균 평점", "리뷰"]
    assert rating["axes"]["y"]["title"] == "평점" and rating["axes"]["y1"]["title"] == "리뷰"


def test_the_script_strings_follow_the_request_language(client):
    keys = ("locale", "offer_ends_in", "offer_ended", "day_one", "day_other")
    korean = js_strings(client.get("/", headers=KOREAN).get_data(as_text=True))
    assert korean["upload_failed"] == "업로드하지 못했어요: {error}"  # the build uploader's words too
    korean = {key: korean[key] for key in keys}
    assert korean == {"locale": "ko", "offer_ends_in": "할인 종료까지 {time}",
                      "offer_ended": "할인이 끝났어요. 새로고침하면 현재 가격을 볼 수 있어요.",
                      "day_one": "{n}일", "day_other": "{n}일"}
    english = js_strings(client.get("/").get_data(as_text=True))
    assert english["upload_failed"] == "The upload failed: {error}"
    english = {key: english[key] for key in keys}
    assert english == {"locale": "en", "offer_ends_in": "Offer ends in {time}",
                       "offer_ended": "This offer has ended — reload for the current price",
                       "day_one": "{n} day", "day_other": "{n} days"}


def test_the_rq_dashboard_frame_reads_korean(login_as):
    html = unescape(login_as("admin", locale="ko").page("/admin/rq/"))
    assert '<html lang="ko">' in html and "← Playcation 관리자" in html and "작업과 일정" in html
