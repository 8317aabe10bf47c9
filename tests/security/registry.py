"""Every URL rule that takes a parameter, and what that parameter names.

The tests walk the app's own URL map. A rule with a parameter that is not listed here
(and is not under /admin, which the generic admin rule covers) fails
tests/security/test_authz.py with "add <endpoint> to tests/security/registry.py".

Kinds:
  OWNED   the parameter names an object that belongs to user A (`owner`, an actor of
          the world in conftest.py). Anonymous is sent to log in (or gets 401/403);
          another customer and another publisher get 403 or 404, and nothing changes.
          The owner is then let through (proves the arguments name a real object).
  ACTOR   the parameter names a public object and the action only touches the acting
          user's own rows (their cart, wishlist, like, claim). Another user doing it
          must leave A's rows alone; anonymous state-changing requests are refused.
  PUBLIC  a public object or capability (a game page, a static file, a reset token):
          the reason says why anyone may use it.
"""
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Entry:
    kind: str                                  # OWNED | ACTOR | PUBLIC
    args: Callable                             # world -> url arguments
    owner: str = ""                            # OWNED: the actor A who may use it
    form: dict = field(default_factory=dict)   # a body that would change A's object if let through
    reason: str = ""                           # PUBLIC: why anyone may use it


def owned(owner, args, **form):
    return Entry("OWNED", args, owner=owner, form=form)


def actor(args, **form):
    return Entry("ACTOR", args, form=form)


def public(args, reason):
    return Entry("PUBLIC", args, reason=reason)


_game = lambda w: {"game_id": w.game_a}  # noqa: E731
_review = lambda w: {"review_id": w.review_a}  # noqa: E731
_build = lambda w: {"build_id": w.build_a}  # noqa: E731

REGISTRY: dict[str, Entry] = {
    # publisher back office: publisher A's game
    "catalog.manage_edit_game": owned("publisher_a", _game, title="Taken over", price="0"),
    "catalog.manage_delist_game": owned("publisher_a", _game),
    "catalog.manage_relist_game": owned("publisher_a", _game),
    "catalog.manage_upload_cover": owned("publisher_a", _game),
    "catalog.manage_add_screenshot": owned("publisher_a", _game),
    "library.manage_keys": owned("publisher_a", _game),
    "library.manage_builds": owned("publisher_a", _game, version="9", platform="linux", size="10", filename="x"),
    "library.upload_chunk": owned("publisher_a", _build),
    "library.part_urls": owned("publisher_a", _build),
    "library.complete_upload": owned("publisher_a", _build, sha256="0" * 64),
    "library.publish_build": owned("publisher_a", _build),
    # customer A owns game A, whose published build this is
    "library.download": owned("customer_a", _build),
    "catalog.manage_remove_screenshot": owned("publisher_a", lambda w: {"game_id": w.game_a, "shot_id": w.shot_a}),
    # customer A's orders and notifications
    "orders.order_page": owned("customer_a", lambda w: {"public_id": w.order_paid}),
    "orders.refund": owned("customer_a", lambda w: {"public_id": w.order_paid}),
    "gifts.refund": owned("customer_a", lambda w: {"public_id": w.gift_a}),
    "orders.refund_line": owned("customer_a", lambda w: {"public_id": w.order_paid, "line_id": w.order_paid_line}),
    "orders.sandbox_page": owned("customer_a", lambda w: {"public_id": w.order_pending}, action="approve"),
    "notifications.mark_read": owned("customer_a", lambda w: {"notification_id": w.notification_a}, go="1"),
    # customer A's logins (the signed-in devices list)
    "accounts.end_login": owned("customer_a", lambda w: {"sid": w.login_a}),
    # customer A's review: only A edits or deletes it; only the game's publisher replies
    "reviews.edit": owned("customer_a", _review, rating="1", body="Edited by someone else entirely."),
    "reviews.delete": owned("customer_a", _review),
    "reviews.reply": owned("publisher_a", _review, body="A reply by someone who is not the publisher."),
    # the acting user's own rows
    "cart.add": actor(lambda w: {"game_id": w.game_c}),
    "gifts.new_gift": actor(lambda w: {"game_id": w.game_c}, email="friend@example.com", message="Enjoy"),
    "cart.remove": actor(lambda w: {"game_id": w.game_c}),
    "catalog.wishlist_toggle": actor(lambda w: {"slug": w.game_b_slug}, wanted="0"),
    "catalog.wishlist_remove": actor(lambda w: {"game_id": w.game_c}),
    "reviews.like": actor(_review),
    "reviews.post": actor(lambda w: {"slug": w.game_a_slug}, rating="1", body="Posted by someone else."),
    "coupons.claim": actor(lambda w: {"event_id": w.event}),
    # public objects and capabilities
    "catalog.game_page": public(lambda w: {"slug": w.game_a_slug}, "the store page of a listed game"),
    "reviews.list_page": public(lambda w: {"slug": w.game_a_slug}, "published reviews of a listed game"),
    "gifts.claim_page": public(lambda w: {"token": "not-a-claim-token"},
                               "the signed claim link is the capability; a bad one is a 404 page"),
    "gifts.claim": public(lambda w: {"token": "not-a-claim-token"},
                          "the signed claim link is the capability; claiming needs a login as well"),
    "waiting.room": public(lambda w: {"room_id": 1}, "anyone may wait in a room's line"),
    "waiting.stream": public(lambda w: {"room_id": 1}, "the room's one broadcast, the same for every waiter"),
    "coupons.event_page": public(lambda w: {"event_id": w.event}, "coupon drops are announced publicly"),
    "coupons.remaining_stream": public(lambda w: {"event_id": w.event}, "the public live counter of a drop"),
    "core.media": public(lambda w: {"key": "covers/none.webp"},
                         "covers, screenshots and avatars are public images under unguessable keys"),
    "static": public(lambda w: {"filename": "css/app.css"}, "the site's own static files"),
    "library.download_file": public(lambda w: {"token": "not-a-token", "filename": "alpha.exe"},
                                    "the signed, expiring link is the capability; each request checks again "
                                    "that its user owns the game"),
    "accounts.reset_password": public(lambda w: {"token": "not-a-token"},
                                      "the signed, expiring, single-use token is the capability"),
    "dev.inbox_message": public(lambda w: {"message_id": "none"},
                                "development mail sink; registered only when DEV_INBOX is on, never in production"),
    # a provider name from a fixed list, not an object
    **{f"social.{name}": public(lambda w: {"provider": "github"}, "a login provider's name, not an object")
       for name in ("login", "callback", "email", "email_code", "nickname", "prove", "prove_code", "prove_send",
                    "link", "unlink")},
}

# Endpoints whose state-changing requests need no logged-in user (CSRF is still required).
ANONYMOUS_FORMS = {"accounts.login", "accounts.signup", "accounts.forgot_password", "accounts.reset_password",
                   "social.email", "social.email_code", "social.nickname", "social.prove", "social.prove_code",
                   "social.prove_send", "catalog.wishlist_toggle", "accounts.logout"}

# CSRF exemptions: endpoint -> reason. A view exempted in the app (csrf.exempt) but not
# listed here fails test_csrf.py; so does a listed one that is no longer exempt.
CSRF_EXEMPT: dict[str, str] = {
    # None today. A payment-gateway webhook would go here, e.g.
    # "orders.toss_webhook": "server-to-server; authenticated by the gateway's HMAC signature",
}

# Blueprints exempt from the token check: name -> reason. Their state-changing rules are
# still tested: a request without a same-origin Origin/Referer must be refused, unrun.
CSRF_EXEMPT_BLUEPRINTS: dict[str, str] = {
    "rq_dashboard": "rq-dashboard's own JavaScript posts without our token; shop/admin/jobs.py lets "
                    "admins only through and refuses any POST whose Origin/Referer is not this site",
}

# Parameters of admin rules, for requests that should be refused before any lookup.
ADMIN_ARGS = {
    "event_id": lambda w: w.event, "term_id": lambda w: w.category, "game_id": lambda w: w.game_a,
    "user_id": lambda w: w.customer_a.id, "review_id": lambda w: w.review_a, "order_id": lambda w: 1,
    "public_id": lambda w: w.order_paid, "email_id": lambda w: 1, "job_id": lambda w: "vip_grading",
}

STATE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def is_admin_rule(rule) -> bool:
    return rule.rule == "/admin" or rule.rule.startswith("/admin/")


def rule_args(rule, world) -> dict:
    """URL arguments for a rule, from the registry (or the admin defaults).
    Raises LookupError naming the endpoint when the rule is not covered."""
    if not rule.arguments:
        return {}
    if rule.endpoint in REGISTRY:
        return REGISTRY[rule.endpoint].args(world)
    if is_admin_rule(rule):
        return {name: ADMIN_ARGS.get(name, lambda w: 1)(world) for name in rule.arguments}
    raise LookupError(f"add {rule.endpoint} to tests/security/registry.py")


def actor_for(rule) -> str:
    """Who may use a rule, for requests whose refusal must be due to something else."""
    if is_admin_rule(rule):
        return "admin"
    if rule.endpoint in REGISTRY and REGISTRY[rule.endpoint].owner:
        return REGISTRY[rule.endpoint].owner
    if rule.rule.startswith("/publisher"):
        return "publisher_a"
    if rule.endpoint in ANONYMOUS_FORMS:
        return "anonymous"
    return "customer_a"
