"""Fan-out: one notification on a channel with many open streams is loaded from the
database once and rendered once per language in the process, and every stream of that
language gets the very same bytes; other users' streams get nothing of it. (That no stream holds a database connection
while it waits is measured by bench/sse.py: the tests share one connection.)"""
from flask import template_rendered
from sqlalchemy import event, update

from shop.accounts.models import User
from shop.extensions import db
from shop.web.sse import get_hub

from tests.support.env import REDIS_URL
from .test_language import KO_PAID, EN_PAID, _logged_in, _notify
from .test_stream import _read_until

STREAMS_PER_LANGUAGE = 12


def _open(browser, n):
    out = []
    for _ in range(n):
        res = browser.get("/notifications/stream", buffered=False)
        chunks = iter(res.response)
        assert "event: ready" in next(chunks).decode()
        out.append((res, chunks))
    return out


def _set_locale(app, user_id, locale):
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(locale=locale))
        db.session.commit()


def _frame(chunks, nid):
    """The bytes of the notification frame with id `nid` (skipping heartbeats)."""
    for _ in range(40):
        chunk = next(chunks)
        if f"id: {nid}\n".encode() in chunk:
            return chunk
    raise AssertionError(f"no frame with id {nid}")


def test_one_query_and_one_render_per_language_for_many_streams(app, make_user):
    publisher, bystander = make_user(locale="en"), make_user(locale="en")
    browser = _logged_in(app, publisher)
    english = _open(browser, STREAMS_PER_LANGUAGE)
    _set_locale(app, publisher.id, "ko")  # the same account, now read in Korean: new streams write Korean
    korean = _open(browser, STREAMS_PER_LANGUAGE)
    other = _open(_logged_in(app, bystander), 2)
    assert get_hub(REDIS_URL).wait_ready()

    statements, renders = [], []
    with app.app_context():
        engine = db.engine

    def on_statement(conn, cursor, statement, *args):
        statements.append(statement)

    def on_render(sender, template, context, **extra):
        renders.append(template.name)

    event.listen(engine, "before_cursor_execute", on_statement)
    template_rendered.connect(on_render, app)
    try:
        nid = _notify(app, publisher.id)
        statements.clear()  # what the notify itself ran
        en = {_frame(chunks, nid) for _, chunks in english}
        ko = {_frame(chunks, nid) for _, chunks in korean}
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        template_rendered.disconnect(on_render, app)

    assert len(en) == 1 and len(ko) == 1  # every stream of a language: the same bytes
    assert EN_PAID in en.pop().decode() and KO_PAID in ko.pop().decode()
    reads = [s for s in statements if "notifications" in s]
    assert len(reads) == 1, statements  # the row and the unread count, once for 24 streams
    assert renders.count("notifications/_toast.html") == 2  # once per language
    for _, chunks in other:  # the bystander's streams never see it
        assert "Payment received" not in _read_until(chunks, ": heartbeat")
    for res, _ in english + korean + other:
        res.close()


def test_a_second_notification_and_duplicates_are_sent_once_each(app, make_user, monkeypatch):
    """A re-published id (e.g. a relay retry) is not sent twice; a later one is sent."""
    import redis as redis_lib

    monkeypatch.setitem(app.config, "SSE_HEARTBEAT_SECONDS", 0.3)
    user = make_user(locale="en")
    [(res, chunks)] = _open(_logged_in(app, user), 1)
    assert get_hub(REDIS_URL).wait_ready()
    first = _notify(app, user.id)
    _frame(chunks, first)
    redis_lib.Redis.from_url(REDIS_URL).publish(f"notify:user:{user.id}", str(first))
    second = _notify(app, user.id, "review_reply", {"title": "Celeste"})
    text = _read_until(chunks, f"id: {second}")
    assert f"id: {first}\n" not in text and "Celeste" in text
    res.close()

