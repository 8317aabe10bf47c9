"""The audit log page: filters (actor, action prefix, target, Korean dates), newest first,
paginated, before/after shown compactly."""
import re
from datetime import datetime, timedelta, timezone

import pytest

from shop.accounts.models import User
from shop.admin.models import AuditLog
from shop.extensions import db


def add_rows(app, *rows):
    """Audit rows as (created_at UTC, actor email, action, target type, target id, before, after)."""
    with app.app_context():
        ids = []
        for created_at, actor, action, ttype, tid, before, after in rows:
            row = AuditLog(actor_email=actor, action=action, target_type=ttype, target_id=tid,
                           target_label=f"{ttype} {tid}", before=before, after=after, created_at=created_at)
            db.session.add(row)
            db.session.flush()
            ids.append(row.id)
        db.session.commit()
        return ids


def ids_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="audit-(\d+)">', page)]


UTC = timezone.utc


@pytest.fixture
def rows(app):
    # 2026-03-01 15:30 UTC is already 2026-03-02 00:30 in Seoul
    return add_rows(
        app,
        (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), "ann@admins.example", "user.role", "user", "7",
         {"role": "customer"}, {"role": "publisher"}),
        (datetime(2026, 3, 1, 15, 30, tzinfo=UTC), "bob@admins.example", "user.suspend", "user", "8",
         {"suspended_at": None}, {"suspended_at": "2026-03-01T15:30:00+00:00"}),
        (datetime(2026, 3, 2, 3, 0, tzinfo=UTC), "ann@admins.example", "game.delist", "game", "7",
         {"status": "listed"}, {"status": "delisted"}),
        (datetime(2026, 3, 5, 3, 0, tzinfo=UTC), "bob@admins.example", "order.refund", "order", "70",
         {"status": "PAID"}, {"status": "REFUNDED"}),
    )


@pytest.mark.parametrize("who,status", [("anonymous", 302), ("customer", 403), ("publisher", 403), ("admin", 200)])
def test_only_admins_read_the_audit_log(login_as, rows, who, status):
    res = login_as(who).get("/admin/audit")
    assert res.status_code == status
    if who == "anonymous":
        assert res.headers["Location"].startswith("/login?next=")
    else:
        assert ("user.suspend" in res.get_data(as_text=True)) is (who == "admin")


def test_newest_first_with_a_compact_diff(admin_browser, rows):
    role, suspend, delist, refund = rows
    page = admin_browser.page("/admin/audit")
    assert ids_on(page) == [refund, delist, suspend, role]
    assert "<span class=\"field\" title=\"role\">Role</span>: <del>customer</del> → <ins>publisher</ins>" in page
    assert ("<span class=\"field\" title=\"suspended_at\">Suspended at</span>: <del>none</del> → "
            "<ins>2026-03-02 00:30:00 KST</ins>") in page
    assert "2026-03-02 00:30:00" in page  # shown in Korea time
    assert 'href="/admin/orders/70"' in page and 'href="/admin/users/8"' in page


def test_the_change_shows_korea_time_and_leaves_out_unchanged_fields(admin_browser, app):
    (row,) = add_rows(app, (datetime(2026, 3, 3, 1, 0, tzinfo=UTC), "ann@admins.example", "coupon_event.update",
                            "coupon_event", "4",
                            {"name": "Spring drop", "quantity": 100, "opens_at": "2026-03-03T01:00:00+00:00",
                             "closes_at": "2026-03-03T02:00:00+00:00", "valid_until": "2026-03-31"},
                            {"name": "Spring drop", "quantity": 150, "opens_at": "2026-03-03T10:00:00+09:00",
                             "closes_at": "2026-03-03T03:00:00Z", "valid_until": "2026-03-31"}))
    page = admin_browser.page("/admin/audit")
    diff = re.search(rf'<tr id="audit-{row}">.*?</tr>', page, re.S).group(0)
    fields = re.findall(r'<span class="field" title="(\w+)">', diff)
    assert fields == ["quantity", "closes_at"]  # same name, same instant, same date: not shown
    assert ">Quantity</span>" in diff and ">Closes at</span>" in diff  # the fields' names, not their codes
    assert "<del>2026-03-03 11:00:00 KST</del> → <ins>2026-03-03 12:00:00 KST</ins>" in diff
    assert "+00:00" not in diff


@pytest.mark.parametrize("query,expected", [
    ("actor=ANN@", ["delist", "role"]),
    ("action=user.", ["suspend", "role"]),
    ("action=user.s", ["suspend"]),
    ("action=%25", []),  # a literal prefix, not a wildcard
    ("target_type=user&target_id=7", ["role"]),
    ("target_type=game", ["delist"]),
    ("target_id=7", ["delist", "role"]),
    # Korean dates: 15:30 UTC on 1 March is 2 March in Seoul
    ("date_from=2026-03-02", ["refund", "delist", "suspend"]),
    ("date_to=2026-03-01", ["role"]),
    ("date_from=2026-03-02&date_to=2026-03-02", ["delist", "suspend"]),
    ("actor=bob&action=order.&date_from=2026-03-05&date_to=2026-03-05", ["refund"]),
])
def test_filters(admin_browser, rows, query, expected):
    by_name = dict(zip(["role", "suspend", "delist", "refund"], rows))
    assert ids_on(admin_browser.page(f"/admin/audit?{query}")) == [by_name[n] for n in expected]


@pytest.mark.parametrize("query,message", [
    ("date_from=2026-02-30", "Not a valid date value."),
    ("date_from=2026-03-05&date_to=2026-03-01", "The end date is before the start date."),
    ("action=" + "a" * 61, "Field cannot be longer than 60 characters."),
])
def test_bad_filters_are_refused_with_a_message(admin_browser, rows, query, message):
    res = admin_browser.get(f"/admin/audit?{query}")
    assert res.status_code == 400 and message in res.get_data(as_text=True)


def test_the_log_is_paginated_and_the_pager_keeps_the_filters(app, admin_browser):
    start = datetime(2026, 4, 1, tzinfo=UTC)
    ids = add_rows(app, *[(start + timedelta(minutes=n), "ann@admins.example", "user.role", "user", str(n),
                           None, None) for n in range(55)])
    first = admin_browser.page("/admin/audit?action=user.&date_from=2026-04-01")
    assert ids_on(first) == ids[::-1][:50]
    assert 'href="/admin/audit?action=user.&amp;date_from=2026-04-01&amp;page=2"' in first
    assert ids_on(admin_browser.page("/admin/audit?action=user.&date_from=2026-04-01&page=2")) == ids[::-1][50:]


def test_real_actions_show_up_with_their_actor(admin_browser, make_user):
    user = make_user(email="lara@example.com")
    admin_browser.post(f"/admin/users/{user.id}/role", {"role": "publisher"})
    page = admin_browser.page(f"/admin/audit?target_type=user&target_id={user.id}")
    assert admin_browser.user.email in page and "user.role" in page and "lara@example.com" in page


@pytest.mark.parametrize("url", ["/admin/users", "/admin/games", "/admin/orders", "/admin/audit"])
@pytest.mark.parametrize("query", ["q=" + "9" * 30, "publisher=" + "9" * 30, "page=" + "9" * 25, "page=-3",
                                   "page=abc", "q=%25_%5C"])
def test_odd_list_queries_get_a_normal_page(admin_browser, url, query):
    """Numbers too big for an INTEGER column or an OFFSET are not sent to the database."""
    assert admin_browser.get(f"{url}?{query}").status_code == 200


def test_the_target_type_comes_from_the_action_not_the_table_name(app, make_user):
    """`record()` names the target by the action's prefix: a table such as
    `library_entries` must not become "library_entrie" (the old rstrip("s") rule)."""
    from types import SimpleNamespace

    from shop.admin import audit

    with app.app_context():
        user = make_user()
        entry = SimpleNamespace(__tablename__="library_entries", id=41, name="Owned copy")
        rows = [audit.record("library_entry.revoke", entry, actor=user),
                audit.record("user.role", user, actor=user),
                audit.record("job.run", target_id="x", label="nightly", actor=user),
                audit.record("email.resend", entry, target_type="email", actor=user)]
        db.session.flush()
        assert [(r.target_type, r.target_id) for r in rows] == [
            ("library_entry", "41"), ("user", str(user.id)), ("job", "x"), ("email", "41")]
        assert rows[0].target_label == "Owned copy"
        db.session.rollback()


def test_field_names_are_in_the_readers_language(app, admin_browser, rows):
    with app.app_context():  # the admin's account asks for Korean
        db.session.get(User, admin_browser.user.id).locale = "ko"
        db.session.commit()
    page = admin_browser.page("/admin/audit")
    assert '<span class="field" title="role">역할</span>' in page
    assert '<span class="field" title="suspended_at">정지 시각</span>' in page
