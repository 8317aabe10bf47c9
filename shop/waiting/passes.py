"""The two cookies of a waiting room, signed with the app's secret and salts of their own
(so no other signed value of the app, such as the session or a CSRF token, passes for them):

  wr_t<R>  the ticket while waiting: [room id, ticket id, number]. Without it a visitor
           is new and joins at the back; a forged one fails the signature and counts as none.
  wr_p<R>  the pass once admitted: [room id, ticket id], timestamped, valid for the
           room's session duration. Checking it is one HMAC, no Redis.

A pass is bound to its ticket, and a ticket is picked up once (state.VISIT), so a
ticket copied while waiting gets one pass, not two. A pass copied after admission cannot
be told apart by the signature; the claim binds it to the first account that claims with
it (state.bind_owner), so a copy used by a second account is refused.
"""
from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

TICKET_SALT = "playcation.waiting-room.ticket"
PASS_SALT = "playcation.waiting-room.pass"


def ticket_cookie(room_id: int) -> str:
    return f"wr_t{room_id}"


def pass_cookie(room_id: int) -> str:
    return f"wr_p{room_id}"


class Signer:
    def __init__(self, secret_key: str):
        self.tickets = URLSafeSerializer(secret_key, salt=TICKET_SALT)
        self.passes = URLSafeTimedSerializer(secret_key, salt=PASS_SALT)

    def ticket(self, room_id: int, ticket: str, number: int) -> str:
        return self.tickets.dumps([room_id, ticket, number])

    def read_ticket(self, room_id: int, value: str | None) -> tuple[str, int] | None:
        """(ticket id, number), or None for a missing, forged or other room's cookie."""
        if not value or len(value) > 200:
            return None
        try:
            data = self.tickets.loads(value)
        except BadData:
            return None
        if (isinstance(data, list) and len(data) == 3 and data[0] == room_id and isinstance(data[1], str)
                and isinstance(data[2], int)):
            return data[1], data[2]
        return None

    def issue_pass(self, room_id: int, ticket: str) -> str:
        return self.passes.dumps([room_id, ticket])

    def read_pass(self, room_id: int, value: str | None, max_age: int) -> str | None:
        """The ticket id of a valid, unexpired pass for this room, else None."""
        if not value or len(value) > 200:
            return None
        try:
            data = self.passes.loads(value, max_age=max_age)
        except BadData:
            return None
        if isinstance(data, list) and len(data) == 2 and data[0] == room_id and isinstance(data[1], str):
            return data[1]
        return None


def signer(app) -> Signer:
    found = app.extensions.get("waiting_signer")
    if found is None:
        found = app.extensions["waiting_signer"] = Signer(app.secret_key)
    return found
