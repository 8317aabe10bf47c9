"""Authorization and IDOR, generated from the URL map.

Every rule with a parameter is in tests/security/registry.py (or under /admin). Objects
of user A are tried by anonymous, another customer and another publisher: refused
(login / 401 / 403 / 404, never 200 with A's data) and nothing in the database changes.
Every /admin rule, including ones added later, refuses anonymous, customers and
publishers."""
from urllib.parse import urlsplit

import pytest

from .conftest import db_snapshot, snapshot_diff
from .registry import REGISTRY, STATE_METHODS, is_admin_rule, rule_args


def _rules(app):
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def _url(app, rule, args) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **args)


def _methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def _is_login_redirect(res) -> bool:
    if res.status_code in (301, 302, 303):
        return urlsplit(res.headers["Location"]).path == "/login"
    return res.headers.get("HX-Redirect", "").startswith("/login")


def _refused_anonymous(res) -> bool:
    return _is_login_redirect(res) or res.status_code in (401, 403)


def _stream_safe_request(actor, method, url, data):
    """Requests without reading a streaming body (SSE would never end)."""
    res = actor.request(method, url, data, buffered=False)
    if res.mimetype == "text/event-stream":
        res.close()
        return res
    res.get_data()
    res.close()
    return res


def test_every_rule_with_a_parameter_is_registered(app, world):
    missing = []
    for rule in _rules(app):
        if not rule.arguments:
            continue
        try:
            rule_args(rule, world)
        except LookupError as exc:
            missing.append(str(exc))
    assert not missing, "\n".join(missing)
    stale = set(REGISTRY) - {r.endpoint for r in _rules(app)}
    assert not stale, f"registry entries for endpoints that no longer exist: {sorted(stale)}"
    assert all(entry.reason for entry in REGISTRY.values() if entry.kind == "PUBLIC")


def test_owned_objects_refuse_everyone_but_their_owner(app, world, actors):
    failures, checked = [], 0
    before = db_snapshot(app)
    owned = [r for r in _rules(app) if REGISTRY.get(r.endpoint) and REGISTRY[r.endpoint].kind == "OWNED"]
    assert len(owned) >= 12
    for rule in owned:
        entry = REGISTRY[rule.endpoint]
        url = _url(app, rule, entry.args(world))
        owner_role = "customer" if entry.owner.startswith("customer") else "publisher"
        strangers = ["customer_b", "publisher_b"] + (["customer_a"] if owner_role == "publisher" else [])
        for method in _methods(rule):
            data = entry.form if method in STATE_METHODS else {}
            res = _stream_safe_request(actors["anonymous"], method, url, data)
            checked += 1
            if not _refused_anonymous(res):
                failures.append(f"{method} {url} anonymous: {res.status_code}")
            for name in strangers:
                res = _stream_safe_request(actors[name], method, url, data)
                checked += 1
                body = res.get_data(as_text=True) if res.is_sequence else ""
                if res.status_code not in (403, 404):
                    failures.append(f"{method} {url} as {name}: {res.status_code} (want 403 or 404)")
                elif any(secret in body for secret in (world.order_paid, world.order_pending, "Your order shipped")):
                    failures.append(f"{method} {url} as {name}: the refusal shows A's data")
    assert not failures, "\n".join(failures)
    changes = snapshot_diff(before, db_snapshot(app))
    assert not changes, changes
    assert checked >= 4 * len(owned)

    # The owner gets through with the same URLs: the refusals above were about who asked.
    # (Pages first, destructive actions last, so each still finds its object.)
    last = ("delete", "remove", "refund")
    for rule in sorted(owned, key=lambda r: ("GET" not in r.methods, any(w in r.endpoint for w in last))):
        entry = REGISTRY[rule.endpoint]
        url = _url(app, rule, entry.args(world))
        method = "GET" if "GET" in rule.methods else _methods(rule)[0]
        res = _stream_safe_request(actors[entry.owner], method, url, entry.form if method != "GET" else {})
        assert res.status_code not in (401, 403, 404), f"{method} {url} as its owner {entry.owner}: {res.status_code}"


def _rows_of(app, user_id: int) -> dict:
    """Every row that names user A (user_id / publisher_id columns), as plain data; public
    counters (a review's likes_count) may move when others act."""
    snap = {}
    from sqlalchemy import or_, select

    from shop.extensions import db

    with app.app_context():
        for table in db.metadata.sorted_tables:
            cols = [c for c in table.c if c.name in ("user_id", "publisher_id", "buyer_id", "author_id")]
            if cols:
                kept = [c for c in table.c if not c.name.endswith("_count")]
                rows = db.session.execute(select(*kept).where(or_(*[c == user_id for c in cols]))).all()
                snap[table.name] = sorted(repr(tuple(r)) for r in rows)
        db.session.remove()
    return snap


def test_actor_scoped_actions_never_touch_another_users_rows(app, world, actors):
    """Cart, wishlist, likes, claims and review posts act on the caller's own rows only."""
    rules = [r for r in _rules(app) if REGISTRY.get(r.endpoint) and REGISTRY[r.endpoint].kind == "ACTOR"]
    assert len(rules) >= 7
    failures = []
    before = _rows_of(app, world.customer_a.id)
    whole_before = db_snapshot(app)
    for rule in rules:
        entry = REGISTRY[rule.endpoint]
        url = _url(app, rule, entry.args(world))
        for method in _methods(rule):
            if method not in STATE_METHODS:
                continue
            res = _stream_safe_request(actors["anonymous"], method, url, entry.form)
            if not _refused_anonymous(res) and res.status_code not in (404,):
                failures.append(f"{method} {url} anonymous: {res.status_code}")
    assert db_snapshot(app) == whole_before, snapshot_diff(whole_before, db_snapshot(app))
    for rule in rules:
        entry = REGISTRY[rule.endpoint]
        url = _url(app, rule, entry.args(world))
        for name in ("customer_b", "publisher_b"):
            for method in _methods(rule):
                res = _stream_safe_request(actors[name], method, url, entry.form)
                if res.status_code >= 500:
                    failures.append(f"{method} {url} as {name}: {res.status_code}")
    assert not failures, "\n".join(failures)
    assert _rows_of(app, world.customer_a.id) == before


def test_screenshot_of_another_game_cannot_be_removed_through_ones_own_game(app, world, actors):
    """Publisher B owns game B but names publisher A's screenshot: refused, shot stays."""
    before = db_snapshot(app)
    res = actors["publisher_b"].post(f"/publisher/games/{world.game_b}/screenshots/{world.shot_a}/delete")
    assert res.status_code == 404
    assert not snapshot_diff(before, db_snapshot(app))


ADMIN_REFUSALS = {"anonymous": _refused_anonymous,
                  "customer_a": lambda res: res.status_code == 403,
                  "publisher_a": lambda res: res.status_code == 403}


def test_admin_rules_refuse_everyone_but_admins(app, world, actors):
    """Every /admin rule (today's and any added later), every method, three non-admins."""
    rules = [r for r in _rules(app) if is_admin_rule(r)]
    assert len(rules) >= 10
    before = db_snapshot(app)
    failures, checked = [], 0
    for rule in rules:
        url = _url(app, rule, rule_args(rule, world))
        for method in _methods(rule):
            data = {"name": "Changed by a non-admin", "role": "admin", "job": "vip_grading"}
            for name, refused in ADMIN_REFUSALS.items():
                res = _stream_safe_request(actors[name], method, url,
                                           data if method in STATE_METHODS else {})
                checked += 1
                if not refused(res):
                    failures.append(f"{method} {url} as {name}: {res.status_code}")
    assert not failures, "\n".join(failures)
    assert not snapshot_diff(before, db_snapshot(app)), snapshot_diff(before, db_snapshot(app))
    assert checked >= 3 * len(rules)


@pytest.mark.parametrize("path", ["/publisher/games", "/publisher/games/new"])
def test_publisher_pages_refuse_customers(path, actors):
    assert actors["customer_a"].get(path).status_code == 403
    assert _is_login_redirect(actors["anonymous"].get(path))
    assert actors["publisher_a"].get(path).status_code == 200
