"""The waiting room in front of a coupon drop: the line (place kept, back of the line
without the cookie, FIFO admission), the pass (skipping and forging refused, a copied
pass refused for a second account), the live broadcast and sold out. Real Redis."""
import json

from itsdangerous import URLSafeTimedSerializer

from shop.coupons.redis_state import keys as coupon_keys
from shop.waiting import state
from shop.waiting.passes import PASS_SALT, pass_cookie, ticket_cookie

from .conftest import Claimer, advance, set_room, ticket_number

JSON = {"Accept": "application/json"}


def test_the_drop_page_sends_a_visitor_without_a_pass_to_the_waiting_page(app, client, open_event, make_room):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id)
    res = client.get(f"/coupons/{event_id}")
    assert res.status_code == 302
    assert res.headers["Location"] == f"/waiting/{room_id}?next=/coupons/{event_id}"
    assert client.get(f"/coupons/{event_id}/stream", buffered=False).status_code == 200  # the public counter isn't held
    assert client.get("/").status_code == 200 and client.get("/coupons").status_code == 200


def test_refresh_keeps_the_place_and_losing_the_cookie_sends_the_visitor_to_the_back(app, open_event, make_room):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id, active_cap=1)
    first, second = app.test_client(), app.test_client()
    assert first.get(f"/waiting/{room_id}").status_code == 303  # an idle room lets the first straight in
    page = second.get(f"/waiting/{room_id}")
    assert page.status_code == 200 and "You're in line" in page.get_data(as_text=True)
    number = ticket_number(page)
    for _ in range(3):
        again = second.get(f"/waiting/{room_id}")
        assert ticket_number(again) == number
        assert "Your place in line" in again.get_data(as_text=True)
    second.delete_cookie(ticket_cookie(room_id))
    assert ticket_number(second.get(f"/waiting/{room_id}")) == number + 1  # a new ticket, at the back


def test_admission_follows_ticket_order(app, open_event, make_room):
    event_id = open_event(quantity=50)
    room_id = make_room(event_id, active_cap=2)
    visitors = [app.test_client() for _ in range(6)]
    answers = [v.get(f"/waiting/{room_id}?next=/coupons/{event_id}") for v in visitors]
    assert [a.status_code for a in answers] == [303, 303, 200, 200, 200, 200]
    numbers = [ticket_number(a) for a in answers[2:]]
    assert numbers == sorted(numbers)
    set_room(app, room_id, active_cap=4)
    advance(app, room_id)
    again = [v.get(f"/waiting/{room_id}?next=/coupons/{event_id}") for v in visitors[2:]]
    assert [a.status_code for a in again] == [303, 303, 200, 200]
    assert again[0].headers["Location"] == f"/coupons/{event_id}"
    assert visitors[2].get(f"/coupons/{event_id}").status_code == 200  # the pass opens the drop page
    assert visitors[4].get(f"/coupons/{event_id}").status_code == 302  # still waiting


def test_a_claim_without_a_pass_is_refused_and_with_one_it_claims(app, open_event, make_users, make_room):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id, active_cap=1)
    holder, skipper = Claimer.crowd(app, make_users(2))
    assert holder.browser.get(f"/waiting/{room_id}").status_code == 303
    res = skipper.claim(event_id)
    assert res.status_code == 403 and res.get_json()["outcome"] == "waiting_room"
    assert res.get_json()["waiting_url"].startswith(f"/waiting/{room_id}")
    htmx = skipper.claim(event_id, htmx=True)
    assert htmx.headers["HX-Redirect"].startswith(f"/waiting/{room_id}")
    assert holder.outcome(event_id) == "claimed"
    from shop.coupons.redis_state import CouponRedis
    import redis as redis_lib
    r = redis_lib.Redis.from_url(app.config["REDIS_URL"], decode_responses=True)
    assert CouponRedis(r).claimed_users(event_id) == {holder.user.id}


def test_a_forged_or_foreign_pass_is_refused(app, open_event, make_users, make_room):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id)
    (claimer,) = Claimer.crowd(app, make_users(1))
    forged = URLSafeTimedSerializer("not the app's secret", salt=PASS_SALT).dumps([room_id, "made-up"])
    other_salt = URLSafeTimedSerializer(app.secret_key, salt="something else").dumps([room_id, "made-up"])
    other_room = URLSafeTimedSerializer(app.secret_key, salt=PASS_SALT).dumps([room_id + 1, "made-up"])
    for value in (forged, other_salt, other_room, "garbage", forged[:-2] + "xx"):
        claimer.browser.client.set_cookie(pass_cookie(room_id), value)
        res = claimer.claim(event_id)
        assert res.status_code == 403 and res.get_json()["outcome"] == "waiting_room", value
        assert claimer.browser.get(f"/coupons/{event_id}").status_code == 302


def test_a_copied_pass_claims_for_one_account_only(app, open_event, make_users, make_room):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id)
    owner, copier = Claimer.crowd(app, make_users(2))
    assert owner.browser.get(f"/waiting/{room_id}").status_code == 303
    the_pass = owner.browser.client.get_cookie(pass_cookie(room_id)).value
    copier.browser.client.set_cookie(pass_cookie(room_id), the_pass)
    assert owner.outcome(event_id) == "claimed"
    res = copier.claim(event_id)
    assert res.status_code == 403 and res.get_json()["outcome"] == "waiting_room"
    assert "another account" in res.get_json()["message"]
    assert owner.outcome(event_id) == "already_claimed"  # the owner still gets through


def test_a_copied_ticket_is_admitted_once(app, open_event, make_room):
    event_id = open_event(quantity=5)
    room_id = make_room(event_id, active_cap=1)
    app.test_client().get(f"/waiting/{room_id}")  # takes the one place
    first, copy = app.test_client(), app.test_client()
    number = ticket_number(first.get(f"/waiting/{room_id}"))
    copy.set_cookie(ticket_cookie(room_id), first.get_cookie(ticket_cookie(room_id)).value)
    set_room(app, room_id, active_cap=2)
    advance(app, room_id)
    assert first.get(f"/waiting/{room_id}").status_code == 303
    again = copy.get(f"/waiting/{room_id}")
    assert again.status_code == 200 and ticket_number(again) > number  # to the back


def test_one_broadcast_tells_every_waiter_the_line_and_the_sell_out(app, redis, open_event, make_room):
    event_id = open_event(quantity=3)
    room_id = make_room(event_id, active_cap=1)
    for _ in range(3):
        app.test_client().get(f"/waiting/{room_id}")
    listener = redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(state.channel(room_id))
    listener.get_message(timeout=1)
    set_room(app, room_id, active_cap=2)
    numbers = advance(app, room_id)
    news = json.loads(listener.get_message(timeout=2)["data"])
    assert news == {"through": 2, "waiting": 1, "stock": 3, "rate": numbers["rate"]}
    assert advance(app, room_id)["through"] == 2 and listener.get_message(timeout=0.3) is None  # nothing new: silent
    redis.set(coupon_keys(event_id)["stock"], 0)
    advance(app, room_id)
    assert json.loads(listener.get_message(timeout=2)["data"])["stock"] == 0
    page = app.test_client().get(f"/waiting/{room_id}")
    assert "Every coupon of this drop has been claimed" in page.get_data(as_text=True)
    listener.close()


def test_the_stream_opens_with_the_rooms_numbers(app, client, open_event, make_room):
    event_id = open_event(quantity=4)
    room_id = make_room(event_id, active_cap=1)
    client.get(f"/waiting/{room_id}")
    advance(app, room_id)
    res = client.get(f"/waiting/{room_id}/stream", buffered=False)
    assert res.mimetype == "text/event-stream"
    chunks = iter(res.response)
    first = next(chunks).decode()
    res.close()
    assert "event: admit" in first and '"through":1' in first and '"stock":4' in first
    assert client.get("/waiting/999999/stream").status_code == 404


def test_a_room_turned_off_lets_everyone_through(app, client, open_event, make_room):
    event_id = open_event(quantity=4)
    room_id = make_room(event_id)
    assert client.get(f"/coupons/{event_id}").status_code == 302
    set_room(app, room_id, enabled=False)
    assert client.get(f"/coupons/{event_id}").status_code == 200
    assert client.get(f"/waiting/{room_id}?next=/coupons/{event_id}").headers["Location"] == f"/coupons/{event_id}"


def test_the_waiting_page_and_its_stream_cost_no_database_query(app, open_event, make_users, make_room):
    """A stampede reloads this page by the thousand: no user load, no query (the room's
    settings come from the per-process snapshot)."""
    from sqlalchemy import event

    from shop.extensions import db

    event_id = open_event(quantity=5)
    room_id = make_room(event_id, active_cap=1)
    first, second = Claimer.crowd(app, make_users(2))
    first.browser.get(f"/waiting/{room_id}")
    second.browser.get(f"/waiting/{room_id}")  # the snapshot is loaded by now
    with app.app_context():
        engine = db.engine
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        page = second.browser.get(f"/waiting/{room_id}")
        stream = second.browser.get(f"/waiting/{room_id}/stream", buffered=False)
        next(iter(stream.response))
        stream.close()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert page.status_code == 200 and "Your place in line" in page.get_data(as_text=True)
    assert statements == []
