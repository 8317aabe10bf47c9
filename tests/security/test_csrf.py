"""CSRF, generated from the URL map: every rule that accepts a state-changing method
refuses a request without a token and with a wrong one (400, a page that says why),
the view never runs and nothing in the database or Redis changes. The user is one who
would otherwise be allowed, so the refusal is the token's doing."""
from urllib.parse import urlsplit


from shop.extensions import csrf

from .conftest import Actor, db_snapshot, redis_keys, snapshot_diff
from .registry import CSRF_EXEMPT, CSRF_EXEMPT_BLUEPRINTS, STATE_METHODS, actor_for, rule_args

CSRF_MESSAGE = "Your form expired or was sent from elsewhere"


def state_changing_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.methods & STATE_METHODS), key=lambda r: r.rule)


def test_every_exemption_is_listed_with_a_reason(app):
    """A view made exempt in the app but not in the registry (or the other way round) fails."""
    exempt_in_app = set(csrf._exempt_views)
    by_import_name = {f"{view.__module__}.{view.__name__}": endpoint for endpoint, view in app.view_functions.items()}
    exempt_endpoints = {by_import_name.get(name, name) for name in exempt_in_app}
    assert exempt_endpoints == set(CSRF_EXEMPT), (
        f"exempt in the app: {sorted(exempt_endpoints)}; listed: {sorted(CSRF_EXEMPT)} "
        "(list each exemption with its reason in tests/security/registry.py CSRF_EXEMPT)")
    exempt_blueprints = {getattr(bp, "name", bp) for bp in csrf._exempt_blueprints}
    assert exempt_blueprints == set(CSRF_EXEMPT_BLUEPRINTS), (
        f"blueprints exempt from CSRF: {sorted(exempt_blueprints)}; listed: {sorted(CSRF_EXEMPT_BLUEPRINTS)}")
    assert all(len(reason) > 20 for reason in CSRF_EXEMPT_BLUEPRINTS.values())
    assert all(len(reason) > 20 for reason in CSRF_EXEMPT.values())
    assert app.config["WTF_CSRF_ENABLED"] and app.config["WTF_CSRF_CHECK_DEFAULT"]


def test_every_state_changing_rule_is_covered(app, world):
    """Each such rule can be built (registry or admin defaults) or is exempt: none escapes."""
    missing = []
    for rule in state_changing_rules(app):
        if rule.endpoint in CSRF_EXEMPT:
            continue
        try:
            rule_args(rule, world)
        except LookupError as exc:
            missing.append(str(exc))
    assert not missing, "\n".join(missing)
    assert len(state_changing_rules(app)) >= 40  # the walk found the app's forms


def _exempt(rule) -> bool:
    return rule.endpoint in CSRF_EXEMPT or rule.endpoint.split(".")[0] in CSRF_EXEMPT_BLUEPRINTS


def _cases(app):
    return [(rule.rule, method) for rule in state_changing_rules(app)
            for method in sorted(rule.methods & STATE_METHODS) if not _exempt(rule)]


def _spy_on_views(app, monkeypatch) -> list:
    ran = []
    for endpoint, view in list(app.view_functions.items()):
        def spy(*args, _endpoint=endpoint, _view=view, **kwargs):
            ran.append(_endpoint)
            return _view(*args, **kwargs)
        monkeypatch.setitem(app.view_functions, endpoint, spy)
    return ran


def _url(app, rule, world) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **rule_args(rule, world))


def test_csrf_refused_everywhere(app, world, actors, redis, monkeypatch):
    """One test walks every rule (a parametrized test per rule would rebuild the world
    each time); failures are collected and reported together."""
    rules = {r.rule: r for r in state_changing_rules(app)}
    ran = _spy_on_views(app, monkeypatch)

    other_session_token = Actor(app).token  # valid, but for another session
    failures, checked = [], 0
    before_db, before_redis = db_snapshot(app), redis_keys(redis)
    for path, method in _cases(app):
        rule = rules[path]
        who = actors[actor_for(rule)]
        url = _url(app, rule, world)
        form = {"title": "x", "body": "changed", "name": "changed", "nickname": "changed", "action": "approve"}
        for label, token in (("missing", None), ("wrong", "forged-token"), ("other session", other_session_token),
                             ("header only, wrong", "HEADER")):
            data = dict(form)
            headers = {}
            if token == "HEADER":
                headers["X-CSRFToken"] = "forged-token"
            elif token:
                data["csrf_token"] = token
            ran.clear()
            res = who.request(method, url, data, csrf=False, headers=headers)
            checked += 1
            body = res.get_data(as_text=True)
            if res.status_code != 400 or CSRF_MESSAGE not in body:
                failures.append(f"{method} {url} as {who.name}, token {label}: {res.status_code}")
            if ran:
                failures.append(f"{method} {url} as {who.name}, token {label}: the view {ran} ran")
    assert not failures, "\n".join(failures)
    assert checked >= 4 * 40
    assert not snapshot_diff(before_db, db_snapshot(app)), snapshot_diff(before_db, db_snapshot(app))
    assert redis_keys(redis) == before_redis


def test_exempt_blueprints_refuse_cross_site_posts(app, world, actors, redis, monkeypatch):
    """Rules exempt from the token (rq-dashboard) still refuse a POST that does not come
    from this site's own pages (no Origin/Referer, or another site's), as an admin."""
    ran = _spy_on_views(app, monkeypatch)
    admin = actors["admin"]
    before_db, before_redis = db_snapshot(app), redis_keys(redis)
    failures, checked = [], 0
    for rule in state_changing_rules(app):
        if rule.endpoint in CSRF_EXEMPT or rule.endpoint.split(".")[0] not in CSRF_EXEMPT_BLUEPRINTS:
            continue
        url = _url(app, rule, world)
        for headers in ({}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/admin/rq/"},
                        {"Origin": "http://localhost.evil.example"}):
            ran.clear()
            res = admin.request("POST", url, {}, csrf=False, headers=headers)
            checked += 1
            if res.status_code != 400 or ran:
                failures.append(f"POST {url} with {headers}: {res.status_code}, views run: {ran}")
    assert not failures, "\n".join(failures)
    assert checked >= 4 * len(CSRF_EXEMPT_BLUEPRINTS)
    assert not snapshot_diff(before_db, db_snapshot(app))
    assert redis_keys(redis) == before_redis


def test_a_valid_token_is_accepted(app, world, actors):
    """The control: the same kind of request with the session's token gets past CSRF."""
    res = actors["customer_a"].post(f"/cart/{world.game_b}")
    assert res.status_code == 302 and urlsplit(res.headers["Location"]).path == "/cart"
    res = actors["customer_a"].post(f"/notifications/{world.notification_a}/read", headers={"X-CSRFToken": ""})
    assert res.status_code in (302, 200)


def test_csrf_error_page_is_html_not_a_traceback(app, actors):
    res = actors["customer_a"].post("/account/profile", {"nickname": "Changed"}, csrf=False)
    assert res.status_code == 400
    body = res.get_data(as_text=True)
    assert "<title>Bad request" in body and CSRF_MESSAGE in body and "Traceback" not in body
