"""Coupon claims in Korean and English from one process: the fast lane renders its
answers once per language and picks the reader's from the `lang` cookie, then
Accept-Language (never the user's row), and agrees with the Flask view in both."""
import pytest

from shop.coupons import claim_locale
from shop.coupons.consumer import drain_event

from .test_fastlane import Paths, User_, logged_in, same

CLAIMED_KO = "쿠폰을 받았어요! 내 쿠폰함에 넣어 두었습니다."
CLAIMED_EN = "Got it! The coupon is in your wallet."


@pytest.fixture
def paths(app, monkeypatch):
    return Paths(app, monkeypatch)


def speaking(claimer: User_, lang: str | None = None, accept: str | None = None) -> User_:
    if lang:
        claimer.browser.client.set_cookie("lang", lang)
    if accept is not None:
        claimer.browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept
    return claimer


def test_a_korean_and_an_english_claimer_each_read_their_language_from_the_same_lane(
        app, paths, open_event, make_users):
    korean, english, korean_too = logged_in(app, make_users, 3)
    speaking(korean, "ko")
    speaking(english, "en", accept="ko-KR,ko;q=0.9")  # the cookie (the account's choice) wins
    speaking(korean_too, "ko")
    event_id = open_event(quantity=5)
    assert paths.fast(lambda: korean.claim(event_id)).get_json() == {"outcome": "claimed", "message": CLAIMED_KO}
    assert paths.fast(lambda: english.claim(event_id)).get_json() == {"outcome": "claimed", "message": CLAIMED_EN}
    again = paths.fast(lambda: korean.claim(event_id))
    assert again.get_json() == {"outcome": "already_claimed", "message": "이미 받은 쿠폰입니다."}
    # the view, had the lane not answered, says exactly the same
    assert paths.flask(lambda: korean_too.claim(event_id)).get_json()["message"] == CLAIMED_KO
    same(paths.fast(lambda: korean.claim(event_id)), paths.flask(lambda: korean_too.claim(event_id)))


def test_the_htmx_fragment_in_korean_matches_the_view(app, paths, open_event, make_users):
    a, b = (speaking(u, accept="ko") for u in logged_in(app, make_users, 2))  # no cookie: Accept-Language
    event_id = open_event(quantity=5)
    fast = paths.fast(lambda: a.claim(event_id, htmx=True, json=False))
    same(fast, paths.flask(lambda: b.claim(event_id, htmx=True, json=False)))
    html = fast.get_data(as_text=True)
    assert "outcome-claimed" in html and CLAIMED_KO in html and "내 쿠폰함 열기 →" in html
    assert "Open your wallet" not in html


def test_sold_out_and_unverified_in_korean(app, paths, open_event, make_users):
    (a,) = (speaking(u, "ko") for u in logged_in(app, make_users, 1))
    (unverified,) = (speaking(u, "ko") for u in logged_in(app, make_users, 1, verified=False))
    event_id = open_event(quantity=1)
    paths.fast(lambda: a.claim(event_id))
    res = paths.fast(lambda: unverified.claim(event_id, htmx=True, json=False))
    assert res.status_code == 403 and "쿠폰을 받으려면 이메일 인증을 완료해 주세요." in res.get_data(as_text=True)
    assert "지금 인증하기" in res.get_data(as_text=True)


def test_korean_is_the_default_when_nothing_says_otherwise(app, paths, open_event, make_users):
    (a,) = (speaking(u, accept="") for u in logged_in(app, make_users, 1))
    event_id = open_event()
    assert paths.fast(lambda: a.claim(event_id)).get_json()["message"] == CLAIMED_KO


@pytest.mark.parametrize("cookie, accept, expected", [
    (None, None, "ko"), ("lang=en", None, "en"), ("session=x; lang=en-US", "ko", "en"), ("lang=fr", "en", "en"),
    (None, "en-US,en;q=0.9", "en"), (None, "fr;q=0.9,en;q=0.5", "en"), (None, "fr-FR", "ko"),
    (None, "x" * 3000, "ko"), (None, "en;q=abc", "ko"), ("lang=", "ko-KR", "ko"),
])
def test_claim_locale_reads_the_cookie_then_accept_language(cookie, accept, expected):
    assert claim_locale.claim_locale(cookie, accept) == expected


def test_the_event_page_and_wallet_in_korean(app, open_event, make_users):
    (a,) = (speaking(u, "ko") for u in logged_in(app, make_users, 1))
    event_id = open_event(quantity=10, min_order_amount=20000)
    page = a.browser.get(f"/coupons/{event_id}").get_data(as_text=True)
    assert "쿠폰 배포" in page and "3,000원 할인" in page and "20,000원 이상 주문 시 사용 가능" in page
    assert "/ 10장 남음" in page and ">쿠폰 받기</button>" in page and "받은 날부터 7일간 사용 가능" in page
    a.claim(event_id, json=True)
    with app.app_context():
        drain_event(event_id)  # the consumer persists the claim
    wallet = a.browser.get("/coupons/mine").get_data(as_text=True)
    assert "<h1>내 쿠폰함</h1>" in wallet and "사용 가능" in wallet and "까지 사용 가능" in wallet


def test_the_claim_never_reads_the_account_for_its_language(app, paths, open_event, make_users):
    """The account's language reaches the claim through the `lang` cookie login writes;
    the lane and the view alike leave the row alone, so they can never disagree."""
    from sqlalchemy import update

    from shop.accounts.models import User
    from shop.extensions import db

    a, b = logged_in(app, make_users, 2)  # the suite's browsers ask for English
    with app.app_context():
        db.session.execute(update(User).where(User.id.in_([a.user.id, b.user.id])).values(locale="ko"))
        db.session.commit()
    event_id = open_event()
    fast = paths.fast(lambda: a.claim(event_id))
    same(fast, paths.flask(lambda: b.claim(event_id)))
    assert fast.get_json()["message"] == CLAIMED_EN
    speaking(a, "ko")
    assert paths.fast(lambda: a.claim(event_id)).get_json()["message"] == "이미 받은 쿠폰입니다."
