"""tests/support/lang.py: the browser journeys read the page through the compiled catalog."""
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from tests.support import lang
from tests.support.lang import Language, _Catalog


def _compiled(tmp_path, *messages):
    catalog = Catalog(locale="ko")
    for msgid, msgstr in messages:
        catalog.add(msgid, msgstr)
    path = tmp_path / "messages.mo"
    with open(path, "wb") as f:
        write_mo(f, catalog)
    return _Catalog(path)


def _use(monkeypatch, catalog):
    monkeypatch.setattr(lang, "catalog", lambda locale: catalog)
    monkeypatch.setattr(lang, "MISSING", {})


def test_korean_from_the_catalog_english_is_the_msgid(tmp_path, monkeypatch):
    _use(monkeypatch, _compiled(tmp_path, ("Add to cart", "장바구니에 담기"),
                                ("Logged in as %(nickname)s.", "%(nickname)s 님으로 로그인했어요.")))
    assert lang.t("Add to cart", "ko") == "장바구니에 담기"
    assert lang.t("Add to cart", "en") == "Add to cart"
    assert lang.t("Logged in as %(nickname)s.", "ko", nickname="김게이머") == "김게이머 님으로 로그인했어요."
    assert lang.t("Logged in as %(nickname)s.", "en", nickname="Kim") == "Logged in as Kim."


def test_untranslated_is_the_msgid_and_is_recorded(tmp_path, monkeypatch):
    _use(monkeypatch, _compiled(tmp_path, ("Log in", "")))
    assert lang.t("Log in", "ko") == "Log in"
    assert lang.t("Pay %(amount)s", "ko", amount="1,000원") == "Pay 1,000원"
    assert lang.MISSING == {"ko": {"Log in", "Pay %(amount)s"}}


def test_placeholders_named_differently_in_the_catalog(tmp_path, monkeypatch):
    _use(monkeypatch, _compiled(tmp_path, ("%(name)s reviewed %(game)s: %(stars)s", "%(name)s 님이 %(game)s 리뷰를 남겼어요: %(stars)s")))
    said = lang.t("%(nickname)s reviewed %(title)s: %(stars)s", "ko", nickname="Kim", title="Starfall", stars="★★")
    assert said == "Kim 님이 Starfall 리뷰를 남겼어요: ★★"
    assert lang.MISSING == {}


def test_plurals_have_one_korean_form(tmp_path, monkeypatch):
    _use(monkeypatch, _compiled(tmp_path, (("Cart, %(num)d item", "Cart, %(num)d items"), ("장바구니, %(num)d개",))))
    words = Language("ko")
    assert words.n("Cart, %(num)d item", "Cart, %(num)d items", 3) == "장바구니, 3개"
    assert lang.tn("Cart, %(num)d item", "Cart, %(num)d items", 1, "en") == "Cart, 1 item"
    assert lang.tn("Cart, %(num)d item", "Cart, %(num)d items", 2, "en") == "Cart, 2 items"
    assert words("Cart, %(num)d item", num=1) == "장바구니, 1개"  # a plural entry read by t()


def test_money_as_the_store_prints_it():
    assert Language("ko").won(12000) == "12,000원"
    assert Language("en").won(12000) == "₩12,000"
    assert Language("ko").browser_locale == "ko-KR"
