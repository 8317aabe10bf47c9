"""The waiting room in a real browser against the live server (see conftest.py): a drop
behind a room that lets one visitor in at a time (cap mode). The customer opens the drop,
lands on the waiting page behind three others, watches the place fall over the room's
live stream as the operator widens the room (no reload), is let in by the page itself
when the turn comes, and claims. Screenshots of the waiting page at 1280 and 390 px
(artifacts/screenshots/<lang>/waiting/). In each language (`lang`)."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import shots_in
from .test_store_journey import _assert_no_problems, _open

pytestmark = [pytest.mark.browser, pytest.mark.no_db_isolation]

SETUP = """
from datetime import timedelta
from shop.coupons import services as coupons
from shop.timeutil import utcnow
from shop.waiting import services as rooms
from shop.waiting.rooms import snapshot
now = utcnow()
event = coupons.create_event(coupons.EventInput(
    name="Launch night drop", discount_type="fixed", discount_value=3000, quantity=5,
    opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=2), valid_days=7))
room = rooms.save_room(None, rooms.RoomInput(
    name="Launch night", target_kind="coupon", target=str(event.id), mode="cap", rate_per_minute=60, active_cap=1,
    session_minutes=10, queue_order="fifo", opens_at=now - timedelta(minutes=1), on_redis_down="closed", enabled=True))
rr = rooms.room_redis()
for n in range(3):  # three visitors ahead: one inside already, two waiting
    rr.join(room.id, f"ahead-{n}", False)
rr.advance(snapshot(room), None)
print(f"ids {event.id} {room.id}")
"""

WIDEN = """
from shop.extensions import db
from shop.waiting.models import WaitingRoom
room = db.session.get(WaitingRoom, {room_id})
room.active_cap = {cap}
db.session.commit()
"""


@pytest.fixture(scope="module")
def shot(lang):
    return shots_in("waiting", lang)


def test_a_visitor_waits_watches_the_line_move_gets_in_and_claims(chromium, live_server, live_cli, demo_users,
                                                                   shot, lang):
    event_id, room_id = map(int, re.search(r"ids (\d+) (\d+)", live_cli.python(SETUP)).groups())
    context, page = _open(chromium, live_server, lang, "customer")
    try:
        page.goto(f"/coupons/{event_id}")
        expect(page).to_have_url(re.compile(rf"/waiting/{room_id}\?next=/coupons/{event_id}$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Launch night")
        position = page.locator("#waiting-position")
        expect(position).to_have_text("3")
        expect(page.locator("#waiting-stock")).to_have_text("5")
        expect(page.locator("main[data-live=open]")).to_have_count(1)
        page.evaluate("window.__sameDocument = true")
        shot(page, "waiting-page")

        live_cli.python(WIDEN.format(room_id=room_id, cap=2))
        expect(position).to_have_text("2")  # over the stream: the page worked it out itself
        assert page.evaluate("window.__sameDocument === true"), "the waiting page reloaded"
        live_cli.python(WIDEN.format(room_id=room_id, cap=3))
        expect(position).to_have_text("1")
        shot(page, "waiting-page-next")

        live_cli.python(WIDEN.format(room_id=room_id, cap=4))
        expect(page).to_have_url(re.compile(rf"/coupons/{event_id}$"))  # let in by the page
        page.get_by_role("button", name=lang("Claim coupon")).click()
        expect(page.locator(".claim-outcome.outcome-claimed")).to_contain_text(
            lang("Got it! The coupon is in your wallet."))
        shot(page, "waiting-claimed")
        _assert_no_problems(page)
    finally:
        context.close()
        live_cli.python(WIDEN.format(room_id=room_id, cap=4) + "room.enabled = False\ndb.session.commit()\n")
