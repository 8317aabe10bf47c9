"""What a monthly grading tells people: a congratulation for a grade-up, a kind word for a
grade-down, nothing for an unchanged grade; the rows are written with the grades, the
notifications reach the live channels, and the emails survive Redis being down at
the commit."""
import time
from datetime import datetime

import pytest
from sqlalchemy import func, select

from shop.extensions import db
from shop.loyalty.grades import grade_month
from shop.infra.mail import EmailLog
from shop.web.i18n import in_locale
from shop.web.sse import user_channel
from shop.notifications.models import Notification
from shop.orders.models import Order
from shop.timeutil import SEOUL

from ..support.browser import run_jobs
from ..support.redis_outage import redis_outage, sweep  # noqa: F401  (fixture)


def _pay(app, user_id, total, year, month):
    at = datetime(year, month, 10, 12, tzinfo=SEOUL)
    with app.app_context():
        db.session.add(Order(user_id=user_id, status="PAID", subtotal=total, total=total, gateway="sandbox",
                             expires_at=at, paid_at=at, created_at=at))
        db.session.commit()


def _september(app, make_user, outbox, riser_locale="en"):
    """Three users, September graded and its mail sent: `riser` BRONZE, `stayer` VIP,
    `dropper` VIP. October's spending makes riser GOLD, keeps stayer VIP and drops
    dropper to SILVER. Returns the users and the last email id so far."""
    riser = make_user(nickname="Riser", locale=riser_locale)
    stayer, dropper = (make_user(nickname=n) for n in ("Stayer", "Dropper"))
    _pay(app, stayer.id, 300_000, 2026, 9)
    _pay(app, dropper.id, 320_000, 2026, 9)
    _pay(app, riser.id, 150_000, 2026, 10)
    _pay(app, stayer.id, 310_000, 2026, 10)
    _pay(app, dropper.id, 60_000, 2026, 10)
    with app.app_context():
        grade_month(2026, 9)
    outbox.deliver()
    outbox.clear()
    with app.app_context():
        last_id = db.session.scalar(select(func.max(EmailLog.id)))
    return (riser, stayer, dropper), last_id


def _heard(pubsub, expected: int, timeout: float = 5.0, then: float = 0.5) -> dict[str, list[str]]:
    """Messages per channel: read until `expected` have come (at most `timeout` s), then
    `then` s more, so a message that should not exist has its chance to show up."""
    heard: dict[str, list[str]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)  # None for subscribe confirmations too
        if message is not None:
            heard.setdefault(message["channel"], []).append(message["data"])
        if sum(map(len, heard.values())) >= expected:
            deadline = min(deadline, time.monotonic() + then)
    return heard


def _grade_october(app):
    with app.app_context():
        return grade_month(2026, 10)


def _october_rows(app) -> list[Notification]:
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(Notification.kind.in_(("vip_grade", "vip_downgrade")))).all()
        db.session.expunge_all()
    return [row for row in rows if row.params["month"] == "2026-10"]


def _october_notes(app, locale="en") -> dict[int, list[tuple[str, str]]]:
    """Each user's October notifications: (kind, text as read in `locale`)."""
    notes: dict[int, list] = {}
    with app.app_context(), in_locale(locale):
        for row in _october_rows(app):
            notes.setdefault(row.user_id, []).append((row.kind, row.text))
    return notes


def _emails_after(app, last_id: int) -> list[tuple[str, str, str]]:
    """(recipient, kind, status) of the email rows newer than `last_id`."""
    with app.app_context():
        return [tuple(r) for r in db.session.execute(select(EmailLog.recipient, EmailLog.kind, EmailLog.status)
                                                     .where(EmailLog.id > last_id).order_by(EmailLog.id))]


def _assert_one_letter_each(outbox, riser, stayer, dropper):
    mails = outbox.messages()
    assert sorted(m["to"] for m in mails) == sorted([riser.email, dropper.email])
    [up] = outbox.messages(to=riser.email)
    assert up["subject"] == "You reached GOLD on Playcation"
    assert "Riser" in up["text"] and "October 2026" in up["text"] and "3,000 bonus points" in up["text"]
    [down] = outbox.messages(to=dropper.email)
    assert down["subject"] == "Your Playcation grade for October 2026: SILVER"
    assert "reached" not in down["subject"] + down["text"]  # no congratulation
    assert "SILVER" in down["text"] and "it was VIP" in down["text"] and "Thank you" in down["text"]
    assert "₩300,000" in down["text"] and "1,000 bonus points" in down["text"]
    assert "Thank you" in down["html"] and "₩300,000" in down["html"]


def test_only_real_changes_are_announced_and_published_live(app, outbox, redis, make_user):
    (riser, stayer, dropper), september = _september(app, make_user, outbox)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(*(user_channel(u.id) for u in (riser, stayer, dropper)))
    try:
        summary = _grade_october(app)
        published = _heard(pubsub, expected=2)
    finally:
        pubsub.close()
    assert (summary.upgraded, summary.downgraded) == (1, 1)

    notes = _october_notes(app)
    assert set(notes) == {riser.id, dropper.id}  # nothing for the unchanged grade
    [(kind, message)] = notes[riser.id]
    assert kind == "vip_grade" and message == "You reached GOLD for October 2026! Enjoy your bonus points."
    [(kind, message)] = notes[dropper.id]
    assert kind == "vip_downgrade" and "SILVER" in message and "VIP" in message and "reached" not in message
    ids = {row.user_id: row.id for row in _october_rows(app)}
    # each notification went out on its owner's channel, once, and nobody else heard anything
    assert published == {user_channel(riser.id): [str(ids[riser.id])],
                         user_channel(dropper.id): [str(ids[dropper.id])]}

    # the email rows were written with the grades, before any job ran
    assert _emails_after(app, september) == [(riser.email, "vip_upgrade", "queued"),
                                             (dropper.email, "vip_downgrade", "queued")]
    outbox.deliver()
    _assert_one_letter_each(outbox, riser, stayer, dropper)
    assert [status for *_, status in _emails_after(app, september)] == ["sent", "sent"]

    # a rerun of the month announces nothing again
    rerun = _grade_october(app)
    assert (rerun.upgraded, rerun.downgraded) == (0, 0)
    outbox.deliver()
    assert len(outbox.messages()) == 2 and len(_emails_after(app, september)) == 2


def test_grade_mail_survives_redis_down_at_the_commit(app, outbox, make_user, redis_outage):
    (riser, stayer, dropper), september = _september(app, make_user, outbox)
    redis_outage.down()
    summary = _grade_october(app)  # commits although neither the relay nor the publish can reach Redis
    assert (summary.upgraded, summary.downgraded) == (1, 1)
    assert set(_october_notes(app)) == {riser.id, dropper.id}
    assert _emails_after(app, september) == [(riser.email, "vip_upgrade", "queued"),
                                             (dropper.email, "vip_downgrade", "queued")]

    redis_outage.up()  # empty: whatever was enqueued before the crash is gone too
    run_jobs(app)
    assert outbox.messages() == []  # no job knows of these rows
    assert sweep(app) == 2
    _assert_one_letter_each(outbox, riser, stayer, dropper)
    assert [status for *_, status in _emails_after(app, september)] == ["sent", "sent"]
    assert sweep(app) == 0  # delivered rows are not swept again
    assert len(outbox.messages()) == 2


def test_grade_news_is_written_in_each_members_language(app, outbox, make_user):
    """The same run, one statement for everyone: a Korean riser reads Korean, an English
    dropper English, in the notification and in the letter (subject, text and HTML)."""
    (riser, stayer, dropper), september = _september(app, make_user, outbox, riser_locale="ko")
    _grade_october(app)
    [(kind, note)] = _october_notes(app, "ko")[riser.id]
    assert kind == "vip_grade" and note == "2026년 10월 GOLD 등급을 달성했어요! 보너스 포인트를 즐겨 보세요."
    outbox.deliver()
    [up] = outbox.messages(to=riser.email)
    assert up["subject"] == "Playcation GOLD 등급을 달성하셨습니다"
    for body in (up["text"], up["html"]):
        assert "Riser님, 안녕하세요." in body and "2026년 10월 구매 실적으로" in body and "보너스 포인트 3,000점" in body
        assert "bonus" not in body
    [down] = outbox.messages(to=dropper.email)
    assert down["subject"] == "Your Playcation grade for October 2026: SILVER" and "₩300,000" in down["text"]
