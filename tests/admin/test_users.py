"""Admin users: search, the detail page, role changes, suspend and restore (logged out
everywhere at once, no log-in while suspended, by password or by a social account)."""
import re

import pytest

from shop.accounts.models import User
from shop.accounts.services import AccountSuspended
from shop.extensions import db
from shop.timeutil import utcnow

from ..support.browser import Browser
from ..support.orders import new_game, paid_order

SUSPENDED = "This account is suspended. Contact support."
REASON = "Chargeback fraud on three orders"


@pytest.fixture
def target(make_user):
    return make_user(email="lara@example.com", nickname="Lara")


def claim_status(browser) -> int:
    """The coupon claim path checks the session through the Redis copy only."""
    return browser.post("/coupons/999999/claim", headers={"Accept": "application/json"}).status_code


# --- who may ------------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/admin/users", None, 200),
    ("GET", "/admin/users/{id}", None, 200),
    ("POST", "/admin/users/{id}/role", {"role": "publisher"}, 302),
    ("POST", "/admin/users/{id}/suspend", {"reason": REASON}, 302),
    ("POST", "/admin/users/{id}/restore", {}, 302),
]


@pytest.mark.parametrize("who", ["anonymous", "customer", "publisher", "admin"])
@pytest.mark.parametrize("method,url,data,admin_status", ROUTES)
def test_only_admins_reach_user_admin(app, login_as, target, row_of, audit_rows, who, method, url, data,
                                      admin_status):
    browser = login_as(who)
    url = url.format(id=target.id)
    res = browser.get(url) if method == "GET" else browser.post(url, data)
    expected = {"anonymous": 302, "customer": 403, "publisher": 403, "admin": admin_status}[who]
    assert res.status_code == expected
    if who == "anonymous":
        assert res.headers["Location"].startswith("/login?next=")
    if who != "admin":
        user = row_of(User, target.id)
        assert (user.role, user.suspended_at) == ("customer", None)
        assert audit_rows() == []


@pytest.mark.parametrize("url,data", [("/admin/users/{id}/role", {"role": "admin"}),
                                      ("/admin/users/{id}/suspend", {"reason": REASON}),
                                      ("/admin/users/{id}/restore", {})])
def test_user_actions_need_the_csrf_token(admin_browser, target, row_of, audit_rows, url, data):
    res = admin_browser.post(url.format(id=target.id), data, csrf=False)
    assert res.status_code == 400
    user = row_of(User, target.id)
    assert (user.role, user.suspended_at) == ("customer", None) and audit_rows() == []


@pytest.mark.parametrize("method,url", [("GET", "/admin/users/{id}"), ("POST", "/admin/users/{id}/role"),
                                        ("POST", "/admin/users/{id}/suspend"), ("POST", "/admin/users/{id}/restore")])
def test_an_unknown_user_is_404(admin_browser, method, url, audit_rows):
    url = url.format(id=987654)
    res = admin_browser.get(url) if method == "GET" else admin_browser.post(url, {"role": "admin", "reason": REASON})
    assert res.status_code == 404 and audit_rows() == []


# --- search ------------------------------------------------------------------------------------------

def ids_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="user-(\d+)">', page)]


def test_search_by_email_nickname_or_id_with_role_and_status_filters(app, admin_browser, make_user, target):
    pub = make_user(email="studio@devs.example", nickname="PixelForge", role="publisher")
    gone = make_user(email="gone@example.com", nickname="Ghost", status="withdrawn", withdrawn_at=utcnow())
    with app.app_context():
        db.session.get(User, pub.id).suspended_at = utcnow()
        db.session.commit()
    assert ids_on(admin_browser.page("/admin/users?q=LARA@")) == [target.id]
    assert ids_on(admin_browser.page("/admin/users?q=forge")) == [pub.id]
    assert target.id in ids_on(admin_browser.page(f"/admin/users?q={target.id}"))
    assert ids_on(admin_browser.page("/admin/users?role=publisher")) == [pub.id]
    assert ids_on(admin_browser.page("/admin/users?status=suspended")) == [pub.id]
    assert ids_on(admin_browser.page("/admin/users?status=withdrawn")) == [gone.id]
    active = ids_on(admin_browser.page("/admin/users?status=active"))
    assert target.id in active and admin_browser.user.id in active and pub.id not in active and gone.id not in active
    page = admin_browser.page("/admin/users?status=suspended")
    assert 'badge warn">Suspended' in page
    # LIKE wildcards are taken literally
    assert ids_on(admin_browser.page("/admin/users?q=%25")) == []
    assert ids_on(admin_browser.page("/admin/users?q=l_ra")) == []


def test_bad_filters_are_refused_with_a_message(admin_browser):
    res = admin_browser.get("/admin/users?role=overlord")
    assert res.status_code == 400 and "Not a valid choice" in res.get_data(as_text=True)
    res = admin_browser.get("/admin/users?q=" + "x" * 101)
    assert res.status_code == 400 and "Field cannot be longer than 100 characters" in res.get_data(as_text=True)


def test_the_user_list_is_paginated_and_keeps_its_filters(admin_browser, make_user):
    made = [make_user(email=f"bulk{n:02d}@paged.example").id for n in range(27)]
    first = admin_browser.page("/admin/users?q=paged.example")
    assert ids_on(first) == sorted(made, reverse=True)[:25]
    assert "Page 1 of 2" in first and 'href="/admin/users?q=paged.example&amp;page=2"' in first
    second = admin_browser.page("/admin/users?q=paged.example&page=2")
    assert ids_on(second) == sorted(made, reverse=True)[25:]


# --- the detail page ------------------------------------------------------------------------------------

def test_the_user_page_shows_profile_counts_orders_and_audit(app, admin_browser, target):
    game_id = new_game(app, "Hades", price=24000)
    public_id = paid_order(app, target.id, game_id)
    admin_browser.post(f"/admin/users/{target.id}/role", {"role": "publisher"})
    page = admin_browser.page(f"/admin/users/{target.id}")
    assert "lara@example.com" in page and "Lara" in page
    assert re.search(r"<dt>Orders</dt><dd><a [^>]*>1</a></dd>", page)
    assert "<dt>Reviews</dt><dd>0</dd>" in page
    assert public_id in page and "Hades" in page and "₩24,000" in page
    assert "user.role" in page and "<del>customer</del> → <ins>publisher</ins>" in page


def test_admins_see_no_actions_on_their_own_page(admin_browser):
    page = admin_browser.page(f"/admin/users/{admin_browser.user.id}")
    assert "This is your own account" in page
    assert "/suspend" not in page and "/role" not in page


# --- roles ------------------------------------------------------------------------------------------------

def test_changing_a_role_is_audited(admin_browser, target, row_of, audit_rows):
    res = admin_browser.post(f"/admin/users/{target.id}/role", {"role": "publisher"})
    assert res.status_code == 302 and res.headers["Location"] == f"/admin/users/{target.id}"
    assert "lara@example.com is now a publisher." in admin_browser.flashes()
    assert row_of(User, target.id).role == "publisher"
    [row] = audit_rows()
    assert (row.action, row.target_type, row.target_id, row.target_label) == ("user.role", "user", str(target.id),
                                                                            "lara@example.com")
    assert (row.before, row.after) == ({"role": "customer"}, {"role": "publisher"})
    assert (row.actor_id, row.actor_email) == (admin_browser.user.id, admin_browser.user.email)


@pytest.mark.parametrize("role,message", [("overlord", "Not a valid choice"), ("", "Choose a role."),
                                          ("customer", "is already a customer")])
def test_a_bad_role_changes_nothing(admin_browser, target, row_of, audit_rows, role, message):
    res = admin_browser.post(f"/admin/users/{target.id}/role", {"role": role})
    assert res.status_code == 400 and message in res.get_data(as_text=True)
    assert row_of(User, target.id).role == "customer" and audit_rows() == []


def test_an_admin_cannot_change_their_own_role(admin_browser, row_of, audit_rows):
    res = admin_browser.post(f"/admin/users/{admin_browser.user.id}/role", {"role": "customer"})
    assert res.status_code == 400 and "You cannot change your own role" in res.get_data(as_text=True)
    assert row_of(User, admin_browser.user.id).role == "admin" and audit_rows() == []


def test_an_admin_can_demote_another_admin(admin_browser, make_user, row_of):
    other = make_user(role="admin")
    assert admin_browser.post(f"/admin/users/{other.id}/role", {"role": "customer"}).status_code == 302
    assert row_of(User, other.id).role == "customer"


# --- suspend and restore -------------------------------------------------------------------------------------

def test_suspending_logs_the_user_out_everywhere_at_once_and_refuses_log_in(app, admin_browser, target, redis,
                                                                            row_of, audit_rows):
    laptop, phone = Browser(app), Browser(app)
    assert laptop.login(target.email).status_code == 302
    assert phone.login(target.email, remember=True).status_code == 302
    assert laptop.current_nickname() == "Lara"
    phone.client.delete_cookie("session")  # the phone comes back with its remember-me cookie only
    assert phone.current_nickname() == "Lara"
    assert claim_status(laptop) != 401  # the Redis copy of the session is warm
    assert redis.get(f"auth:user:{target.id}").endswith("|1|1")

    res = admin_browser.post(f"/admin/users/{target.id}/suspend", {"reason": REASON})
    assert res.status_code == 302
    assert "lara@example.com is suspended and was logged out everywhere." in admin_browser.flashes()

    # at once, on every client: pages, the remember-me cookie, and the Redis-only claim path
    assert redis.get(f"auth:user:{target.id}") == "!"
    assert claim_status(laptop) == 401
    assert laptop.get("/account").headers["Location"].startswith("/login")
    assert phone.current_nickname() is None
    phone.client.delete_cookie("session")  # the remember-me cookie alone no longer works either
    assert phone.current_nickname() is None
    # and no way back in while suspended
    res = laptop.login(target.email)
    assert res.status_code == 400 and SUSPENDED in res.get_data(as_text=True)
    assert laptop.current_nickname() is None
    # a wrong password still gets the generic answer: suspension is not revealed to strangers
    res = laptop.login(target.email, "not the password")
    assert "Email or password is not correct." in res.get_data(as_text=True) and SUSPENDED not in res.get_data(as_text=True)

    user = row_of(User, target.id)
    assert user.suspended_at is not None and user.status == "active"
    [row] = audit_rows()
    assert (row.action, row.target_id, row.note) == ("user.suspend", str(target.id), REASON)
    assert row.before == {"suspended_at": None} and row.after["suspended_at"].startswith(str(utcnow().year))

    # restore: they can log in again
    res = admin_browser.post(f"/admin/users/{target.id}/restore")
    assert res.status_code == 302 and "lara@example.com can log in again." in admin_browser.flashes()
    assert row_of(User, target.id).suspended_at is None
    assert laptop.login(target.email).status_code == 302 and laptop.current_nickname() == "Lara"
    assert claim_status(laptop) != 401
    restore_row = audit_rows(action="user.restore")[0]
    assert restore_row.before == row.after and restore_row.after == {"suspended_at": None}


@pytest.mark.parametrize("reason,message", [("", "Give a reason."), ("bad", "A reason is 5–300 characters."),
                                            ("x" * 301, "A reason is 5–300 characters."),
                                            ("     ", "Give a reason.")])
def test_suspending_needs_a_reason_of_5_to_300_characters(app, admin_browser, target, row_of, audit_rows,
                                                          reason, message):
    victim = Browser(app)
    victim.login(target.email)
    res = admin_browser.post(f"/admin/users/{target.id}/suspend", {"reason": reason})
    assert res.status_code == 400 and message in res.get_data(as_text=True)
    assert row_of(User, target.id).suspended_at is None and audit_rows() == []
    assert victim.current_nickname() == "Lara"  # still logged in


def test_an_admin_cannot_suspend_themselves(admin_browser, row_of, audit_rows):
    res = admin_browser.post(f"/admin/users/{admin_browser.user.id}/suspend", {"reason": REASON})
    assert res.status_code == 400 and "You cannot suspend your own account." in res.get_data(as_text=True)
    assert row_of(User, admin_browser.user.id).suspended_at is None and audit_rows() == []
    assert admin_browser.get("/admin/users").status_code == 200  # still logged in


def test_suspending_twice_or_restoring_an_active_user_changes_nothing(admin_browser, target, audit_rows):
    admin_browser.post(f"/admin/users/{target.id}/suspend", {"reason": REASON})
    res = admin_browser.post(f"/admin/users/{target.id}/suspend", {"reason": "Another reason here"})
    assert res.status_code == 400 and "is already suspended" in res.get_data(as_text=True)
    admin_browser.post(f"/admin/users/{target.id}/restore")
    admin_browser.flashes()
    admin_browser.post(f"/admin/users/{target.id}/restore")
    assert "lara@example.com is not suspended." in admin_browser.flashes()
    assert [r.action for r in audit_rows()] == ["user.suspend", "user.restore"]


def test_a_suspended_admin_loses_the_admin_console(app, admin_browser, make_user):
    other = make_user(role="admin")
    other_browser = Browser(app)
    other_browser.login(other.email)
    assert other_browser.get("/admin/users").status_code == 200
    admin_browser.post(f"/admin/users/{other.id}/suspend", {"reason": REASON})
    assert other_browser.get("/admin/users").status_code == 302


def test_a_suspended_user_cannot_log_in_with_a_linked_social_account(app, target, make_user):
    from shop.social import services as social
    from shop.social.models import SocialAccount
    from shop.social.providers import SocialProfile

    profile = SocialProfile("google", "sub-123", email=target.email, email_verified=True)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        db.session.add(SocialAccount(user_id=target.id, provider="google", subject="sub-123", email=target.email))
        db.session.get(User, target.id).suspended_at = utcnow()
        db.session.commit()
        with pytest.raises(AccountSuspended, match=SUSPENDED):
            social.sign_in(profile)
        # proving the account by password or code goes through the same door
        with pytest.raises(AccountSuspended):
            social.link_proven(db.session.get(User, target.id), SocialProfile("github", "gh-1"), by_code=False)
        db.session.get(User, target.id).suspended_at = None
        db.session.commit()
        assert social.sign_in(profile).step == "done"
