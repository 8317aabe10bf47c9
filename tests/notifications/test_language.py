"""A notification row holds its kind and parameters; each reader reads it in their own
language when they read it: on the page, in a live toast (rendered by the reader's
stream, whoever caused the event), and after switching language, old ones too."""
import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.notifications.models import Notification
from shop.notifications.services import notify, notify_query
from shop.web.i18n import in_locale
from shop.web.sse import get_hub

from tests.support.browser import Browser
from tests.support.env import REDIS_URL
from .test_stream import _read_until

PAID = {"title": "Hades", "more": 1, "total": 24000}
KO_PAID = "결제가 완료되었어요: Hades 외 1건 (24,000원)"
EN_PAID = "Payment received: Hades and 1 more (₩24,000)"


def _notify(app, user_id, kind="order_paid", params=PAID, link="/orders/x"):
    with app.app_context():
        row = notify(user_id, kind, params, link)
        db.session.commit()
        return row.id


def _logged_in(app, user) -> Browser:
    browser = Browser(app)
    browser.login(user.email)
    return browser


def test_the_row_holds_kind_and_parameters_not_text(app, make_user):
    user = make_user()
    note_id = _notify(app, user.id)
    with app.app_context():
        row = db.session.get(Notification, note_id)
        assert (row.kind, row.params, row.message) == ("order_paid", PAID, None)
        with in_locale("ko"):
            assert row.text == KO_PAID
        with in_locale("en"):
            assert row.text == EN_PAID


def test_a_korean_and_an_english_reader_each_read_the_same_kind_in_their_language(app, make_user):
    mina, jane = make_user(locale="ko"), make_user(locale="en")
    _notify(app, mina.id)
    _notify(app, jane.id)
    ko = _logged_in(app, mina).get("/notifications").get_data(as_text=True)  # the browser asks for English
    assert KO_PAID in ko and "읽음으로 표시" in ko and "모두 읽음으로 표시" in ko and "Payment received" not in ko
    en = _logged_in(app, jane).get("/notifications").get_data(as_text=True)
    assert EN_PAID in en and "Mark all read" in en and "결제" not in en


def test_live_toasts_are_written_in_each_subscribers_language(app, make_user):
    """One event kind for two subscribers, published from a third party's work: each
    stream writes its own toast."""
    mina, jane = make_user(locale="ko"), make_user(locale="en")
    streams = {}
    for user in (mina, jane):
        res = _logged_in(app, user).get("/notifications/stream", buffered=False)
        chunks = iter(res.response)
        assert "event: ready" in next(chunks).decode()
        streams[user.id] = (res, chunks)
    assert get_hub(REDIS_URL).wait_ready()
    with app.app_context():  # as a sale's announcement does, from a job: nobody's request
        wishers = select(User.id).where(User.id.in_([mina.id, jane.id])).subquery()
        sale = {"title": "Celeste", "price": 12000, "percent": 40}
        assert notify_query(wishers, "wishlist_sale", sale, "/games/c") == 2
        db.session.commit()
    ko = _read_until(streams[mina.id][1], "event: notification")
    en = _read_until(streams[jane.id][1], "event: notification")
    assert "Celeste 할인 중: 12,000원 (-40%)" in ko and "알림, 읽지 않음 1개" in ko and "on sale" not in ko
    assert "Celeste is on sale: ₩12,000 (-40%)" in en and "Notifications, 1 unread" in en and "할인" not in en
    for res, _ in streams.values():
        res.close()


def test_switching_language_rewrites_old_notifications(app, make_user):
    user = make_user(locale="en")
    _notify(app, user.id)
    _notify(app, user.id, "review", {"nickname": "Mina", "title": "Hades", "rating": 4})
    browser = _logged_in(app, user)
    page = browser.get("/notifications").get_data(as_text=True)
    assert EN_PAID in page and "Mina reviewed Hades: ★★★★" in page
    browser.post("/language", {"lang": "ko", "next": "/notifications"})
    page = browser.get("/notifications").get_data(as_text=True)
    assert KO_PAID in page and "Mina님이 Hades에 리뷰를 남겼어요: ★★★★" in page
    assert EN_PAID not in page


def test_rows_from_before_parameters_show_their_stored_text(app, make_user):
    user = make_user(locale="ko")
    with app.app_context():
        db.session.add(Notification(user_id=user.id, kind="game_moderation", message="An admin listed “Old” again."))
        db.session.commit()
    page = _logged_in(app, user).get("/notifications").get_data(as_text=True)
    assert "An admin listed “Old” again." in page


def test_every_kind_reads_in_both_languages(app):
    from shop.notifications.messages import NOTICES, render

    samples = {
        "review": {"nickname": "Mina", "title": "Hades", "rating": 5},
        "review_reply": {"title": "Hades"},
        "wishlist_sale": {"title": "Hades", "price": 12000, "percent": 40},
        "order_paid": PAID,
        "order_refunded": {"title": "Hades", "more": 0, "total": 24000},
        "order_line_refunded": {"title": "Hades", "amount": 8334},
        "vip_grade": {"grade": "GOLD", "previous": "BRONZE", "month": "2026-10", "regain_at": 0},
        "vip_downgrade": {"grade": "SILVER", "previous": "VIP", "month": "2026-10", "regain_at": 300000},
        "game_delisted": {"title": "Hades", "reason": "Broken cover"},
        "game_relisted": {"title": "Hades"},
        "gift_claimed": {"title": "Hades", "email": "friend@example.com"},
        "gift_owned": {"title": "Hades", "email": "friend@example.com"},
        "preorder_released": {"title": "Hades"},
        "build_published": {"title": "Hades", "version": "1.2.0", "platform": "linux"},
        "wishlist_released": {"title": "Hades"},
    }
    assert set(samples) == set(NOTICES)
    with app.app_context():
        for kind, params in samples.items():
            with in_locale("en"):
                english = render(kind, params)
            with in_locale("ko"):
                korean = render(kind, params)
            assert english and korean and english != korean, kind
            assert "Hades" in english + korean or "GOLD" in korean or "SILVER" in korean
    with app.app_context(), in_locale("ko"):
        assert render("vip_downgrade", samples["vip_downgrade"]) == (
            "2026년 10월 등급이 VIP에서 SILVER(으)로 조정되었어요. 늘 함께해 주셔서 감사합니다. "
            "한 달에 300,000원 이상 구매하시면 VIP 등급으로 돌아갈 수 있어요.")


def test_a_notification_needs_a_known_kind_and_its_parameters(app, make_user):
    from shop.notifications.messages import UnknownNotice

    user = make_user()
    with app.app_context():
        with pytest.raises(UnknownNotice):
            notify(user.id, "newsletter", {})
        with pytest.raises(UnknownNotice):
            notify(user.id, "review_reply", "Hades's publisher replied")
        with pytest.raises(UnknownNotice):
            notify(user.id, "order_paid", {"title": "Hades"})  # no total
        db.session.rollback()
