"""The cart in Korean: the page, the htmx "added" answer with its badge, and the flashes
and refusals, for a shopper whose account speaks Korean."""
import re

import pytest

from ..support.orders import Shopper, new_game


@pytest.fixture
def korean(app, make_user):
    return Shopper(app, make_user(locale="ko"))


def test_the_cart_page_in_korean(app, korean):
    game_id = new_game(app, "젤다의 전설", price=12000)
    korean.add(game_id)
    html = korean.browser.get("/cart").get_data(as_text=True)
    assert '<html lang="ko"' in html and "<h1>장바구니</h1>" in html
    assert "젤다의 전설" in html and "<strong>12,000원</strong>" in html
    assert "게임 (1개)" in html and ">합계<" in html and ">결제하기</a>" in html and ">삭제</button>" in html
    assert "Your cart" not in html and "₩" not in html


def test_the_added_to_cart_htmx_answer_in_korean(app, korean):
    game_id = new_game(app, "Celeste")
    html = korean.add(game_id).get_data(as_text=True)
    assert "<html" not in html
    control = re.search(rf'<div class="cart-control" id="cart-control-{game_id}">.*?</div>', html, re.S).group(0)
    assert "담김 · 결제하기" in control and "In cart" not in control
    assert 'aria-label="장바구니, 1개"' in html  # the badge, out of band
    again = korean.add(game_id).get_data(as_text=True)
    assert "Celeste은(는) 이미 장바구니에 있습니다." in again


def test_flashes_in_korean_without_htmx(app, korean):
    game_id = new_game(app, "Hades")
    korean.add(game_id, htmx=False)
    assert korean.flashes() == "Hades을(를) 장바구니에 담았습니다."
    korean.remove(game_id, htmx=False)
    assert korean.flashes() == "장바구니에서 삭제했습니다."
    html = korean.browser.get("/cart").get_data(as_text=True)
    assert "장바구니가 비어 있습니다" in html and '<a href="/games">스토어</a>' in html


def test_the_same_cart_in_english(app, make_user):
    shopper = Shopper(app, make_user(locale="en"))
    shopper.add(new_game(app, "Celeste", price=12000))
    html = shopper.browser.get("/cart").get_data(as_text=True)
    assert "<h1>Your cart</h1>" in html and "<strong>₩12,000</strong>" in html and "Continue to checkout" in html
