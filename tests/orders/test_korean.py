"""Checkout, payment and receipts in Korean: 12,000원, dates in Korea time in Korean
words, and the payment messages."""
import re

import pytest

from ..support.orders import Shopper, new_game, order_snapshot

KOREAN_DATE = re.compile(r"\d{4}년 \d{1,2}월 \d{1,2}일 \([월화수목금토일]\) (오전|오후) \d{1,2}:\d{2}")


@pytest.fixture
def korean(app, make_user):
    return Shopper(app, make_user(locale="ko"))


def test_checkout_in_korean_with_won_after_the_number(app, korean):
    korean.add(new_game(app, "젤다의 전설", price=12000))
    html = korean.browser.get("/checkout").get_data(as_text=True)
    assert "<h1>결제</h1>" in html and "주문 내역" in html and "결제 금액" in html
    assert ">12,000원 결제하기</button>" in html
    assert "결제하기를 누르는 시점의 가격으로 결제됩니다." in html and "₩" not in html


def test_the_receipt_and_the_order_list_in_korean(app, korean):
    public_id = korean.buy(new_game(app, "젤다의 전설", price=12000))
    assert korean.flashes() == "결제가 완료되었습니다. 즐거운 플레이 되세요!"
    html = korean.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert "영수증" in html and ">결제 완료</span>" in html and "<strong>12,000원</strong>" in html
    receipt = re.search(r'<article class="receipt".*?</article>', html, re.S).group(0)
    assert KOREAN_DATE.search(receipt) and "Order" not in receipt
    assert "환불 요청" in html and "구매 후 14일 이내에 환불할 수 있습니다." in html
    listing = korean.browser.get("/orders").get_data(as_text=True)
    assert "<h1>주문 내역</h1>" in listing and KOREAN_DATE.search(listing) and "12,000원" in listing


def test_a_declined_card_is_explained_in_korean(app, korean):
    korean.add(new_game(app, "Celeste", price=12000))
    public_id = korean.checkout()
    page = korean.browser.get(f"/sandbox/pay/{public_id}").get_data(as_text=True)
    assert "샌드박스 결제" in page and ">카드 거절</button>" in page and "<h1>12,000원</h1>" in page
    res = korean.sandbox(public_id, "decline")
    res = korean.browser.get(res.headers["Location"])
    assert res.headers["Location"] == "/cart"
    assert korean.flashes() == "결제가 완료되지 않았습니다: 카드 결제가 거절되었습니다(샌드박스). 결제된 금액은 없습니다."
    html = korean.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert ">결제 실패</span>" in html and "결제된 금액은 없습니다." in html


def test_a_refund_in_korean(app, korean):
    public_id = korean.buy(new_game(app, "Hades", price=12000))
    korean.flashes()
    korean.browser.post(f"/orders/{public_id}/refund")
    assert korean.flashes() == "환불되었습니다. 해당 게임은 라이브러리에서 삭제되었습니다."
    assert order_snapshot(app, public_id).status == "REFUNDED"
    html = korean.browser.get(f"/orders/{public_id}").get_data(as_text=True)
    assert ">환불 완료</span>" in html and "12,000원 환불" not in html and KOREAN_DATE.search(html)


def test_an_order_of_two_games_is_named_in_the_readers_language(app, korean, make_user):
    korean.buy(new_game(app, "Celeste"), new_game(app, "Hades"))
    listing = korean.browser.get("/orders").get_data(as_text=True)
    assert "Celeste 외 1건" in listing
    english = Shopper(app, make_user(locale="en"))
    english.buy(new_game(app, "Inside"), new_game(app, "Limbo"))
    assert "Inside and 1 more" in english.browser.get("/orders").get_data(as_text=True)


def test_discount_lines_are_said_in_the_readers_language(app, korean, monkeypatch):
    """A quote's discounts and an order's stored lines name the coupon or the points in
    whoever reads them's language; a kind nobody knows keeps its stored label."""
    from shop.cart import pricing
    from shop.web.i18n import in_locale

    def coupon(quote, user, options):
        return pricing.Discount("coupon", "Coupon: Chuseok", 2000, ref="1", name="추석 쿠폰")

    def points(quote, user, options):
        return pricing.Discount("points", "Points (1,000 P)", 1000, ref="1000")

    monkeypatch.setattr(pricing, "DISCOUNT_PROVIDERS", [("coupon", coupon), ("points", points)])
    korean.add(new_game(app, "Celeste", price=12000))
    html = korean.browser.get("/checkout").get_data(as_text=True)
    assert "<span>쿠폰: 추석 쿠폰</span><span>−2,000원</span>" in html
    assert "<span>포인트 (1,000 P)</span><span>−1,000원</span>" in html and ">9,000원 결제하기</button>" in html
    stored = [coupon(None, None, {}).stored(), {"kind": "bonus", "label": "Launch bonus", "amount": 5, "ref": None}]
    with app.test_request_context("/"):
        with in_locale("en"):
            assert [pricing.discount_label(d) for d in stored] == ["Coupon: 추석 쿠폰", "Launch bonus"]
        with in_locale("ko"):
            assert [pricing.discount_label(d) for d in stored] == ["쿠폰: 추석 쿠폰", "Launch bonus"]
