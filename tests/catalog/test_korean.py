"""The store front, reviews and the library read in Korean, and cached fragments never
cross languages (issue 18). The suite's client asks for English; these pages ask for
Korean with Accept-Language, or are seen by a user whose account says Korean."""
import html
import re
from datetime import timedelta

import pytest

from shop.catalog import cache
from shop.catalog.models import Game
from shop.extensions import db
from shop.library.models import LibraryEntry
from shop.orders.models import Order
from shop.timeutil import utcnow

from ..support.accounts import make_user
from ..support.catalog import make_game

KO = {"Accept-Language": "ko"}


def _text(res) -> str:
    return html.unescape(res.get_data(as_text=True))


@pytest.fixture
def game(app):
    """A game on sale, with a category and a tag: everything its page can show."""
    from shop.catalog.models import Category, Tag

    with app.app_context():
        category, tag = Category(name="액션", slug="action"), Tag(name="로그라이크", slug="roguelike")
        db.session.add_all([category, tag])
        db.session.commit()
        game_id = make_game("Hades", price=16500, sale_price=8250, sale_ends_at=utcnow() + timedelta(days=2),
                            category_id=category.id, tag_ids=[tag.id], short_description="지하 세계 탈출")
        return db.session.get(Game, game_id).slug


def _owner(app, slug, locale="ko", verified=True):
    """A user (Korean unless told) who owns the game."""
    with app.app_context():
        user = make_user(locale=locale, verified=verified)
        game = db.session.scalar(db.select(Game).where(Game.slug == slug))
        order = Order(user_id=user.id, status="PAID", subtotal=0, total=0, gateway="sandbox", expires_at=utcnow())
        db.session.add(order)
        db.session.flush()
        db.session.add(LibraryEntry(user_id=user.id, game_id=game.id, order_id=order.id))
        db.session.commit()
        return user


def test_the_game_page_in_korean(client, game):
    page = _text(client.get(f"/games/{game}", headers=KO))
    assert '<html lang="ko"' in page
    for korean in ("게임 소개", "출시일", "퍼블리셔", "모든 게임", "Hades 구매하기", "특별 할인", "할인 종료:",
                   "찜하기", "플레이어 리뷰", "아직 리뷰가 없어요", "도움 많이 된 순", "최신순"):
        assert korean in page, korean
    assert "16,500원" in page and "8,250원" in page and "-50%" in page
    assert "₩" not in re.search(r'<section class="purchase-box".*?</section>', page, re.S).group(0)
    for english in ("About this game", "Release date", "Player reviews", "No reviews yet", "Add to your wishlist"):
        assert english not in page, english


def test_the_rating_counts_are_korean_plurals(client, app, game):
    with app.app_context():
        row = db.session.scalar(db.select(Game).where(Game.slug == game))
        row.rating_sum, row.rating_count = 9, 2
        db.session.commit()
    page = _text(client.get(f"/games/{game}", headers=KO))
    assert "(리뷰 2개)" in page and "5점 만점에 4.5점 (리뷰 2개)" in page
    english = _text(client.get(f"/games/{game}"))
    assert "(2 reviews)" in english and "4.5 out of 5 from 2 reviews" in english


def test_browse_in_korean_with_its_sort_labels(client, game):
    page = _text(client.get("/games", headers=KO))
    assert "게임 둘러보기" in page and "게임 1개" in page and "필터" in page and "모든 카테고리" in page
    options = re.findall(r"<option value=\"(\w*)\"[^>]*>([^<]+)</option>", page.split('id="browse-sort"')[1])
    assert options[:4] == [("", "판매량순"), ("newest", "최신순"), ("price_asc", "낮은 가격순"),
                           ("price_desc", "높은 가격순")]
    searched = _text(client.get("/games?q=hades&on_sale=1&price_min=1000", headers=KO))
    assert "“hades” 검색 결과 게임 1개" in searched and "관련도순" in searched
    assert "1,000원 이상" in searched and "할인 중" in searched and "모두 지우기" in searched


def test_an_unknown_sort_is_explained_in_korean(client, game):
    page = _text(client.get("/games?sort=cheapest", headers=KO))
    assert "“cheapest”(이)라는 정렬 방식이 없어서 기본 순서(판매량순)로 보여 드려요." in page
    english = _text(client.get("/games?sort=cheapest"))
    assert "There is no sort called “cheapest”, so these games are in the default order (best selling)." in english


def test_an_empty_search_result_in_korean(client, game):
    partial = _text(client.get("/games?q=zzzz", headers={**KO, "HX-Request": "true"}))
    assert "조건에 맞는 게임이 없어요" in partial and "필터를 줄이거나 다른 검색어로 찾아보세요." in partial
    search = _text(client.get("/search?q=zzzz", headers=KO))
    assert "“zzzz”에 맞는 게임이 없어요" in search


def test_a_korean_reviewer_gets_the_validation_message_in_korean(app, browser, game):
    user = _owner(app, game)
    browser.login(user.email)
    page = _text(browser.get(f"/games/{game}"))
    assert "Hades 리뷰 쓰기" in page and "리뷰 올리기" in page  # the account's language, not the browser's
    res = browser.post(f"/games/{game}/reviews", {"rating": 5, "body": "짧아요"}, htmx=True)
    assert res.status_code == 400
    assert "리뷰는 10자 이상 5,000자 이하로 써 주세요." in _text(res)
    res = browser.post(f"/games/{game}/reviews", {"rating": 4, "body": "정말 재미있는 게임이에요. 추천해요!"},
                       htmx=True)
    posted = _text(res)
    assert res.status_code == 200 and "(리뷰 1개)" in posted and "수정" in posted
    assert re.search(r"<time datetime=\"[\d-]+T[\d:]+\+09:00\">\d{4}년 \d+월 \d+일 \(.\)</time>", posted)


def test_the_flash_after_a_review_is_korean(app, browser, game):
    user = _owner(app, game)
    browser.login(user.email)
    res = browser.post(f"/games/{game}/reviews", {"rating": 5, "body": "정말 재미있는 게임이에요. 추천해요!"},
                       follow_redirects=True)
    assert "리뷰를 남겨 주셔서 감사해요!" in _text(res)


def test_the_library_page_in_korean(app, browser, game):
    user = _owner(app, game)
    browser.login(user.email)
    page = _text(browser.get("/library"))
    assert "<h1>내 라이브러리</h1>" in page and "Hades" in page and re.search(r"\d{4}년 \d+월 \d+일 \(.\) 추가", page)
    with app.app_context():
        empty = make_user(locale="ko")
    browser.logout()
    browser.login(empty.email)
    assert "라이브러리가 비어 있어요." in _text(browser.get("/library"))


def test_a_cached_fragment_is_never_served_in_the_other_language(client, app, game, redis):
    """The game page's parts are cached per game and per locale: rendering them in
    English first must not make the Korean page English."""
    english = _text(client.get(f"/games/{game}"))
    assert "About this game" in english
    with app.app_context():
        game_id = db.session.scalar(db.select(Game.id).where(Game.slug == game))
    assert redis.exists(cache.localized(cache.game_key(game_id, "body"), "en"))
    assert not redis.exists(cache.localized(cache.game_key(game_id, "body"), "ko"))

    korean = _text(client.get(f"/games/{game}", headers=KO))
    assert "게임 소개" in korean and "About this game" not in korean and "Release date" not in korean
    assert redis.exists(cache.localized(cache.game_key(game_id, "body"), "ko"))
    # …and the English copy is still English.
    assert "About this game" in _text(client.get(f"/games/{game}"))


def test_home_rows_are_cached_per_locale(client, game, redis):
    assert "Special offers" in _text(client.get("/"))
    korean = _text(client.get("/", headers=KO))
    assert "특별 할인" in korean and "Special offers" not in korean
    assert redis.exists("cache:lists:home:offers:en:all") and redis.exists("cache:lists:home:offers:ko:all")


def test_invalidation_drops_every_locale(client, app, game, redis):
    client.get(f"/games/{game}")
    client.get(f"/games/{game}", headers=KO)
    with app.app_context():
        game_id = db.session.scalar(db.select(Game.id).where(Game.slug == game))
        cache.invalidate_game(game_id)
    assert redis.keys(f"cache:game:{game_id}:*") == []


def test_the_publisher_back_office_in_korean(app, browser):
    with app.app_context():
        publisher = make_user(role="publisher", locale="ko")
    browser.login(publisher.email)
    page = _text(browser.get("/publisher/games/new"))
    assert "<h1>새 게임</h1>" in page and "제목" in page and "게임 만들기" in page
    res = browser.post("/publisher/games/new", {"title": "", "price": "-5"})
    assert res.status_code == 400
    text = _text(res)
    assert "게임 제목을 입력하세요." in text and "가격은 0원부터 10,000,000원까지 원 단위로 입력하세요." in text


def test_the_wishlist_page_in_korean(app, browser, game):
    with app.app_context():
        user = make_user(locale="ko", nickname="민지")
    browser.login(user.email)
    res = browser.post(f"/games/{game}/wishlist", {"wanted": "1"}, follow_redirects=True)
    assert "Hades을(를) 찜 목록에 담았어요." in _text(res)
    page = _text(browser.get("/wishlist"))
    assert "민지님의 찜 목록" in page and "할인 중" in page and "삭제" in page and "할인 종료:" in page
    assert re.search(r"\d{4}년 \d+월 \d+일 \(.\) 추가", page)
