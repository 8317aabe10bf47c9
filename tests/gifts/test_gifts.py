"""Gifts from purchase to claim: the gift is created with the payment, claimed once,
refunded only while unclaimed, and the giver sees where it stands."""
from sqlalchemy import select

from shop.extensions import db
from shop.infra.mail import EmailLog
from shop.notifications.models import Notification

from ..support.orders import Shopper, count, grant, library_of, new_game, order_snapshot, orders_of, session_login
from ..support.orders import ShopBrowser
from .helpers import claim_token, gifts, send_gift, text


def _recipient(app, make_user, **kwargs):
    user = make_user(**kwargs)
    return Shopper(app, user)


def test_paying_for_a_gift_creates_it_and_emails_the_recipient_not_the_giver_library(app, outbox, make_user):
    giver = Shopper(app, make_user(nickname="Santa"))
    game_id = new_game(app, "Hades", price=24000)
    public_id = send_gift(giver, game_id, "Friend@Example.com", "Have fun!\nFrom Santa")
    order = order_snapshot(app, public_id)
    assert order.status == "PAID" and order.total == 24000
    assert library_of(app, giver.user.id) == []  # the buyer gets no copy
    [gift] = gifts(app, order_id=order.id)
    assert (gift.status, gift.recipient_email, gift.message) == ("sent", "friend@example.com", "Have fun!\nFrom Santa")
    mails = outbox.deliver()
    [to_friend] = [m for m in mails if "friend@example.com" in m["to"]]
    assert to_friend["subject"] == "Santa sent you a gift on Playcation: Hades"
    assert "Have fun!" in to_friend["text"] and "/gifts/claim/" in to_friend["text"]
    [receipt] = [m for m in mails if giver.user.email in m["to"]]
    assert "We emailed friend@example.com a link to claim it." in receipt["text"]
    page = text(giver.browser.get("/gifts"))
    assert "Hades" in page and "friend@example.com" in page and "Sent" in page and ">Refund<" in page


def test_the_recipient_logs_in_claims_once_and_the_giver_sees_claimed(app, outbox, make_user):
    giver = Shopper(app, make_user(nickname="Santa"))
    friend = make_user(email="friend@example.com")
    game_id = new_game(app, "Hades")
    send_gift(giver, game_id, friend.email)
    token = claim_token(outbox, friend.email)

    visitor = ShopBrowser(app)
    page = visitor.get(f"/gifts/claim/{token}")
    assert page.status_code == 200 and "Santa sent you Hades" in text(page)
    assert f"/login?next=/gifts/claim/{token}" in text(page)  # log in first, then back here
    res = visitor.login(friend.email, next=f"/gifts/claim/{token}")
    assert res.headers["Location"] == f"/gifts/claim/{token}"
    res = visitor.post(f"/gifts/claim/{token}")
    assert res.status_code == 302 and res.headers["Location"] == "/library"
    assert library_of(app, friend.id) == [game_id]
    assert [g.status for g in gifts(app)] == ["claimed"]

    again = visitor.post(f"/gifts/claim/{token}", follow_redirects=True)
    assert "You already claimed this gift" in text(again)
    assert library_of(app, friend.id) == [game_id]
    assert count(app, Notification, Notification.user_id == giver.user.id, Notification.kind == "gift_claimed") == 1
    page = text(giver.browser.get("/gifts"))
    assert "Claimed" in page and ">Refund<" not in page
    res = giver.browser.post(f"/gifts/{gifts(app)[0].public_id}/refund", follow_redirects=True)
    assert "This gift was claimed, so it can't be refunded." in text(res)
    assert order_snapshot(app, user_id=giver.user.id).status == "PAID"


def test_an_owner_cannot_claim_and_the_giver_is_told_once_and_refunds(app, outbox, make_user):
    giver = Shopper(app, make_user(nickname="Santa"))
    friend = _recipient(app, make_user, email="owner@example.com")
    game_id = new_game(app, "Hades", price=24000)
    grant(app, friend.user.id, game_id)
    public_id = send_gift(giver, game_id, "owner@example.com")
    token = claim_token(outbox, "owner@example.com")
    for _ in range(2):
        res = friend.browser.post(f"/gifts/claim/{token}", follow_redirects=True)
        assert "You already own Hades, so this gift can't be claimed. We told Santa" in text(res)
    assert count(app, Notification, Notification.user_id == giver.user.id, Notification.kind == "gift_owned") == 1
    told = [m for m in outbox.deliver() if giver.user.email in m["to"] and "can't be claimed" in m["subject"]]
    assert len(told) == 1 and "owner@example.com already owns Hades" in told[0]["text"]
    assert "They already own it" in text(giver.browser.get("/gifts"))

    gift = gifts(app)[0]
    res = giver.browser.post(f"/gifts/{gift.public_id}/refund", follow_redirects=True)
    assert "Refunded. The gift can no longer be claimed." in text(res)
    assert order_snapshot(app, public_id).status == "REFUNDED"
    assert [g.status for g in gifts(app)] == ["refunded"]
    assert "Refunded" in text(giver.browser.get("/gifts"))
    page = text(friend.browser.get(f"/gifts/claim/{token}"))
    assert "refunded to its sender" in page and "Claim it into my library" not in page
    res = friend.browser.post(f"/gifts/claim/{token}", follow_redirects=True)
    assert "refunded to its sender" in text(res)


def test_a_refunded_gift_cannot_be_claimed_and_refund_twice_is_refused(app, outbox, make_user):
    giver = Shopper(app, make_user())
    friend = _recipient(app, make_user)
    game_id = new_game(app, "Celeste")
    send_gift(giver, game_id, friend.user.email)
    token = claim_token(outbox, friend.user.email)
    gift = gifts(app)[0]
    assert giver.browser.post(f"/gifts/{gift.public_id}/refund").status_code == 302
    res = giver.browser.post(f"/gifts/{gift.public_id}/refund", follow_redirects=True)
    assert "This gift was already refunded." in text(res)
    friend.browser.post(f"/gifts/claim/{token}")
    assert library_of(app, friend.user.id) == []


def test_the_same_game_can_be_gifted_twice_and_by_someone_who_owns_it(app, outbox, make_user):
    giver = Shopper(app, make_user())
    game_id = new_game(app, "Celeste")
    grant(app, giver.user.id, game_id)
    send_gift(giver, game_id, "a@example.com")
    send_gift(giver, game_id, "a@example.com")
    send_gift(giver, game_id, "b@example.com")
    assert [g.status for g in gifts(app, giver_id=giver.user.id)] == ["sent"] * 3
    friend = Shopper(app, make_user(email="a@example.com"))
    tokens = [m for m in outbox.deliver() if "a@example.com" in m["to"]]
    assert len(tokens) == 2
    first, second = (claim_token_from(m) for m in tokens)
    assert friend.browser.post(f"/gifts/claim/{first}").headers["Location"] == "/library"
    res = friend.browser.post(f"/gifts/claim/{second}", follow_redirects=True)
    assert "You already own Celeste" in text(res)  # the second copy goes back to the giver as a refund
    assert library_of(app, friend.user.id) == [game_id]


def claim_token_from(mail) -> str:
    from .helpers import LINK_RE

    return LINK_RE.search(mail["text"]).group(1)


def test_a_gift_for_your_own_address_is_refused(app, make_user):
    giver = Shopper(app, make_user(email="me@example.com"))
    game_id = new_game(app, "Celeste")
    res = giver.browser.post(f"/gifts/new/{game_id}", {"recipient": "ME@example.com", "message": ""})
    assert res.status_code == 400 and "add it to your cart" in text(res)
    assert orders_of(app, giver.user.id) == []


def test_gift_input_limits_change_nothing(app, make_user):
    giver = Shopper(app, make_user())
    game_id = new_game(app, "Celeste")
    cases = [
        ({"recipient": "not an email", "message": ""}, "Enter a valid email address."),
        ({"recipient": "", "message": ""}, "Enter the recipient's email address."),
        ({"recipient": ("x" * 250) + "@example.com", "message": ""}, "Emails are at most 254 characters."),
        ({"recipient": "f@example.com", "message": "x" * 501}, "The message is at most 500 characters."),
    ]
    for data, message in cases:
        res = giver.browser.post(f"/gifts/new/{game_id}", data)
        assert res.status_code == 400 and message in text(res), data
    assert orders_of(app, giver.user.id) == []
    ok = giver.browser.post(f"/gifts/new/{game_id}", {"recipient": "f@example.com", "message": "x" * 500})
    assert ok.status_code == 302
    assert giver.browser.get("/gifts/new/999999").status_code == 404
    assert giver.browser.get("/gifts/new/99999999999999999999").status_code == 404


def test_bad_claim_links_get_a_clear_page(app, outbox, make_user):
    giver = Shopper(app, make_user())
    send_gift(giver, new_game(app, "Celeste"), "f@example.com")
    token = claim_token(outbox, "f@example.com")
    friend = Shopper(app, make_user(email="f@example.com"))
    for bad in ("nonsense", token[:-2], token + "x", "a" * 300, token.replace(".", "-", 1), "한글", "%F0%9F%8E%81"):
        for res in (friend.browser.get(f"/gifts/claim/{bad}"), friend.browser.post(f"/gifts/claim/{bad}")):
            assert res.status_code == 404, bad
            assert "This gift link is not valid" in text(res)
    assert friend.browser.get("/gifts/claim/%00").status_code == 400  # the input guard's answer, not a 5xx
    assert library_of(app, friend.user.id) == []


def test_who_may_do_what(app, outbox, make_user):
    giver = Shopper(app, make_user())
    game_id = new_game(app, "Celeste")
    send_gift(giver, game_id, "f@example.com")
    token = claim_token(outbox, "f@example.com")
    gift = gifts(app)[0]
    anonymous = ShopBrowser(app)
    assert anonymous.get(f"/gifts/new/{game_id}").headers["Location"].startswith("/login")
    assert anonymous.get("/gifts").headers["Location"].startswith("/login")
    for url in (f"/gifts/new/{game_id}", f"/gifts/{gift.public_id}/refund", f"/gifts/claim/{token}"):
        res = anonymous.post(url, {"recipient": "x@example.com"})
        assert res.status_code == 302 and "/login" in res.headers["Location"], url
    assert [g.status for g in gifts(app)] == ["sent"] and len(orders_of(app, giver.user.id)) == 1

    stranger = Shopper(app, make_user())
    assert stranger.browser.post(f"/gifts/{gift.public_id}/refund").status_code == 404  # not theirs
    assert "f@example.com" not in text(stranger.browser.get("/gifts"))
    unverified = Shopper(app, make_user(verified=False))
    res = unverified.browser.post(f"/gifts/claim/{token}")
    assert res.status_code == 302 and res.headers["Location"].startswith("/verify")
    # The order page's own refund button refuses a gift: it is refunded from the Gifts page.
    res = giver.browser.post(f"/orders/{order_snapshot(app, user_id=giver.user.id).public_id}/refund",
                             follow_redirects=True)
    assert "A gift is refunded from your Gifts page" in text(res)
    assert [g.status for g in gifts(app)] == ["sent"]


def test_every_gift_post_needs_the_csrf_token(app, outbox, make_user):
    giver = Shopper(app, make_user())
    game_id = new_game(app, "Celeste")
    send_gift(giver, game_id, "f@example.com")
    token = claim_token(outbox, "f@example.com")
    gift = gifts(app)[0]
    friend = Shopper(app, make_user(email="f@example.com"))
    assert giver.browser.post(f"/gifts/new/{game_id}", {"recipient": "g@example.com"}, csrf=False).status_code == 400
    assert giver.browser.post(f"/gifts/{gift.public_id}/refund", csrf=False).status_code == 400
    assert friend.browser.post(f"/gifts/claim/{token}", csrf=False).status_code == 400
    assert len(gifts(app)) == 1 and gifts(app)[0].status == "sent" and library_of(app, friend.user.id) == []


def test_the_gift_email_is_written_in_the_recipients_language_at_send_time(app, outbox, make_user):
    giver = Shopper(app, make_user(nickname="Santa"))
    korean = make_user(email="k@example.com", locale="ko")
    send_gift(giver, new_game(app, "Hades"), korean.email)
    [mail] = [m for m in outbox.deliver() if korean.email in m["to"]]
    assert mail["subject"] == "Santa님이 Playcation에서 선물을 보냈어요: Hades"
    with app.app_context():
        row = db.session.scalar(select(EmailLog).where(EmailLog.recipient == korean.email))
        assert row.kind == "gift_received" and row.status == "sent"


def test_a_gifted_games_product_key_goes_to_whoever_claims_it_never_the_giver(app, outbox, make_user):
    from shop.library import keys as key_service

    giver = Shopper(app, make_user())
    game_id = new_game(app, "Keyed Quest")
    with app.app_context():
        key_service.upload_pool(game_id, b"GIFT-KEY-0001\n")
    public_id = send_gift(giver, game_id, "f@example.com")
    assert "GIFT-KEY-0001" not in text(giver.browser.get(f"/orders/{public_id}"))
    assert "GIFT-KEY-0001" not in text(giver.browser.get("/library"))
    friend = Shopper(app, make_user(email="f@example.com"))
    friend.browser.post(f"/gifts/claim/{claim_token(outbox, 'f@example.com')}")
    assert "GIFT-KEY-0001" in text(friend.browser.get("/library"))
    assert "GIFT-KEY-0001" not in text(giver.browser.get(f"/orders/{public_id}"))


def test_a_minor_cannot_claim_an_adults_only_gift(app, outbox, make_user):
    """The claim asks what a purchase asks (catalog.ratings.check_buyer): an adults-only
    game goes only to an account verified as an adult; the gift stays claimable."""
    from datetime import date

    from shop.catalog.models import Game

    giver = Shopper(app, make_user(nickname="Santa", birth_date=date(1990, 5, 1)))
    minor = make_user(email="kid@example.com", birth_date=date.today().replace(year=date.today().year - 15))
    game_id = new_game(app, "Night Shift", price=15000)
    with app.app_context():
        db.session.get(Game, game_id).age_rating = "19"
        db.session.commit()
    send_gift(giver, game_id, minor.email)
    token = claim_token(outbox, minor.email)
    kid = Shopper(app, minor)
    res = kid.browser.post(f"/gifts/claim/{token}", follow_redirects=True)
    assert "rated Adults only (19+)" in text(res)
    assert library_of(app, minor.id) == [] and [g.status for g in gifts(app)] == ["sent"]
