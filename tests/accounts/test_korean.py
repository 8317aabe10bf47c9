"""The account pages speak Korean to a Korean visitor: labels, flashes, form errors,
domain errors and the error pages; logging in hands the account's language to the
browser as the `lang` cookie; the account page sets the language."""
import re

import pytest

from shop.accounts.models import User
from shop.errors import render_error
from shop.extensions import db

KO = {"Accept-Language": "ko-KR,ko;q=0.9"}


def _text(res) -> str:
    return res.get_data(as_text=True)


def _flashes(res) -> str:
    return " ".join(re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', _text(res)))


def _errors(res) -> list[str]:
    return re.findall(r'<small class="error">([^<]*)</small>', _text(res))


def _lang_cookie(res) -> str | None:
    for header in res.headers.getlist("Set-Cookie"):
        if header.startswith("lang="):
            return header.split(";", 1)[0].split("=", 1)[1]
    return None


@pytest.fixture
def korean(browser):
    """The suite's browser, asking for Korean as a browser in Korea does."""
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = KO["Accept-Language"]
    return browser


def test_login_page_in_korean(korean):
    page = _text(korean.get("/login"))
    assert '<html lang="ko"' in page
    for text in ("<h1>로그인</h1>", "비밀번호", "로그인 상태 유지", "비밀번호를 잊으셨나요?", "처음이신가요?"):
        assert text in page, text
    assert "Keep me logged in" not in page and "Forgot your password?" not in page


def test_signup_page_in_korean(korean):
    page = _text(korean.get("/signup"))
    for text in ("<h1>회원가입</h1>", "닉네임", "비밀번호 확인", "리뷰에 표시돼요. 2~20자로 입력해 주세요.",
                 "이미 계정이 있으신가요?"):
        assert text in page, text
    assert "Create your account" not in page


def test_signup_validation_messages_in_korean(korean):
    res = korean.signup(email="not-an-email", nickname="x", password="short", confirm="other")
    assert res.status_code == 400
    errors = _errors(res)
    assert "올바른 이메일 주소를 입력해 주세요." in errors
    assert "닉네임은 2~20자의 문자, 숫자, 공백, 마침표(.), 하이픈(-), 밑줄(_)로 만들어 주세요." in errors
    assert "비밀번호는 8자 이상 128자 이하로 입력해 주세요." in errors
    assert "비밀번호가 일치하지 않아요." in errors
    res = korean.signup(email="", nickname="Newbie")
    assert "이 항목은 필수입니다." in _errors(res)  # WTForms' own messages come in Korean too


def test_wrong_password_says_so_in_korean(korean, make_user):
    make_user(email="ko@example.com")
    res = korean.login("ko@example.com", password="not the password")
    assert res.status_code == 400
    assert "이메일 또는 비밀번호가 올바르지 않아요." in _errors(res)


def test_login_flash_in_the_accounts_language_and_the_lang_cookie(browser, make_user):
    make_user(email="minji@example.com", nickname="민지", locale="ko")
    res = browser.login("minji@example.com")  # an English-asking browser: the account's choice wins
    assert res.status_code == 302
    assert _lang_cookie(res) == "ko"
    assert "HttpOnly" in next(h for h in res.headers.getlist("Set-Cookie") if h.startswith("lang="))
    page = browser.get(res.headers["Location"])
    assert "민지님으로 로그인했어요." in _flashes(page)
    res = browser.logout()
    assert "로그아웃되었어요." in _flashes(browser.get(res.headers["Location"]))
    # the cookie stays after logging out, so the visitor pages keep the language
    assert re.search(r'<html lang="ko"', _text(browser.get("/")))


def test_an_english_account_gets_an_english_cookie(korean, make_user):
    make_user(email="en@example.com", locale="en")
    res = korean.login("en@example.com")
    assert _lang_cookie(res) == "en"
    assert "Logged in as" in _flashes(korean.get(res.headers["Location"]))


def test_login_required_flash_in_korean(korean):
    res = korean.get("/account")
    assert res.status_code == 302
    assert "계속하려면 로그인해 주세요." in _flashes(korean.get(res.headers["Location"]))


# --- the language setting on the account page ----------------------------------------

def test_account_page_sets_the_language(app, browser, make_user):
    user = make_user(email="switch@example.com")
    browser.login("switch@example.com")
    page = _text(browser.get("/account"))
    assert 'action="/account/language"' in page and '<option selected value="en">English</option>' in page
    res = browser.post("/account/language", {"locale": "ko"})
    assert res.status_code == 302 and res.headers["Location"] == "/account"
    assert _lang_cookie(res) == "ko"
    with app.app_context():
        assert db.session.get(User, user.id).locale == "ko"
    page = browser.get("/account")
    assert "언어 설정을 저장했어요." in _flashes(page)
    assert "<h1>내 계정</h1>" in _text(page) and '<option selected value="ko">한국어</option>' in _text(page)


def test_language_setting_needs_csrf_and_a_known_language(app, browser, make_user):
    user = make_user(email="guard@example.com")
    browser.login("guard@example.com")
    assert browser.post("/account/language", {"locale": "ko"}, csrf=False).status_code == 400
    res = browser.post("/account/language", {"locale": "fr"})
    assert res.status_code == 400 and "Not a valid choice." in _errors(res)
    assert _lang_cookie(res) is None
    with app.app_context():
        assert db.session.get(User, user.id).locale == "en"


def test_language_setting_needs_a_login(browser):
    res = browser.post("/account/language", {"locale": "ko"})
    assert res.status_code == 302 and res.headers["Location"].startswith("/login")


# --- error pages -----------------------------------------------------------------------

def test_404_page_in_korean(korean):
    res = korean.get("/no-such-page")
    assert res.status_code == 404
    page = _text(res)
    assert "페이지를 찾을 수 없어요" in page and "스토어로 돌아가기" in page
    assert "Page not found" not in page


def test_404_page_follows_the_korean_accounts_cookie(browser, make_user):
    make_user(email="cookie@example.com", locale="ko")
    browser.login("cookie@example.com")
    assert "페이지를 찾을 수 없어요" in _text(browser.get("/no-such-page"))


def test_expired_form_page_in_korean(korean):
    res = korean.post("/login", {"email": "a@example.com", "password": "x"}, csrf=False)
    assert res.status_code == 400
    assert "양식이 만료되었거나 다른 곳에서 전송되었어요." in _text(res)


def test_rate_limit_page_in_korean(app, korean):
    limit = int(str(app.config["RATELIMIT_SIGNUP"]).split()[0].split("/")[0])
    for _ in range(limit):
        korean.signup(email="", nickname="")
    res = korean.signup(email="", nickname="")
    assert res.status_code == 429
    assert "잠시만 기다려 주세요" in _text(res) and "다시 시도" in _text(res)


@pytest.mark.parametrize("status, title, message", [
    (429, "잠시만 기다려 주세요", "짧은 시간에 너무 많이 시도했어요."),
    (500, "문제가 발생했어요", "예상치 못한 오류가 발생했어요."),
    (503, "일시적으로 이용할 수 없어요", "스토어 일부가 잠시 중단되었어요."),
])
def test_error_pages_in_korean(app, status, title, message):
    with app.test_request_context("/", headers=KO):
        body, code = render_error(status)
        html = body if isinstance(body, str) else body.get_data(as_text=True)
    assert code == status and f"<h1>{title}</h1>" in html and message in html


def test_json_errors_in_korean(app):
    with app.test_request_context("/", headers={**KO, "Accept": "application/json"}):
        body, code = render_error(404)
        assert body.get_json() == {"error": "페이지를 찾을 수 없어요",
                                   "message": "요청하신 페이지를 찾을 수 없어요. 주소가 바뀌었거나 없는 페이지일 수 있어요."}
