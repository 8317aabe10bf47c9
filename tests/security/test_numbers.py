"""Odd numbers from outside, generated from the URL map (shop/web/numbers.py is the rule).

Every integer path segment of every rule gets 2**31, 2**63, 10**20, "²", "١٢" and a
5,000-digit value, as anonymous, a customer, a publisher and an admin, with each of the
rule's methods: the answer is a 404 (no rule matches), never a 5xx. Every numeric query
or form parameter gets the same values: the numeric fields of every form the pages show
(discovered as in test_payloads.py) and the parameters the views read as numbers (NUMERIC
below) on their own endpoints; every page also gets all of those names at once."""
import re
from urllib.parse import quote

import pytest

from shop.web.numbers import MAX_ID, IdConverter

from .conftest import parse_forms
from .registry import rule_args
from .test_payloads import ROLES, SKIP_FORMS, _base, _pages

BAD = [str(2**31), str(2**63), str(10**20), "²", "١٢", "9" * 5000]

# Query and form parameters the views read as numbers: endpoint -> (method, names).
# Checked against the URL map, so a renamed endpoint fails here rather than going untested.
NUMERIC = {
    "catalog.browse": ("GET", ("page", "price_min", "price_max")),
    "catalog.search_page": ("GET", ("page",)),
    "catalog.manage_games": ("GET", ("page",)),
    "reviews.list_page": ("GET", ("page",)),
    "reviews.post": ("POST", ("rating",)),
    "reviews.edit": ("POST", ("rating",)),
    "orders.checkout": ("GET", ("points", "coupon")),
    "orders.start_checkout": ("POST", ("points", "coupon")),
    "orders.payment_success": ("GET", ("amount",)),
    "admin.users": ("GET", ("page", "q")),
    "admin.games": ("GET", ("page", "q", "publisher")),
    "admin.orders": ("GET", ("page", "q")),
    "admin.audit": ("GET", ("page", "target_id")),
    "admin.emails": ("GET", ("page",)),
    "publisher.dashboard": ("GET", ("publisher_id",)),
}
NUMERIC_NAMES = sorted({name for _, names in NUMERIC.values() for name in names})
PARAM = re.compile(r"<(?:([a-zA-Z_][\w]*)(?:\([^)]*\))?:)?([a-zA-Z_]\w*)>")


def _methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def _path(rule, args: dict) -> str:
    """The rule's path with `args` put in as they are (url_for would refuse odd values)."""
    return PARAM.sub(lambda m: quote(str(args[m.group(2)]), safe=""), rule.rule)


def _send(actor, method, url, data, what, failures):
    try:
        res = actor.request(method, url, data, buffered=False)
    except Exception as exc:  # in tests an unhandled error propagates instead of a 500 page
        failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:160]}")
        return None
    finally:
        if method != "GET":
            actor.restore()  # undo a logout or a changed session
    if res.mimetype != "text/event-stream":
        res.get_data()
    res.close()
    if res.status_code >= 500:
        failures.append(f"{what}: {res.status_code}")
    return res


def _int_rules(app):
    return [r for r in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
            if any(isinstance(c, IdConverter) for c in r._converters.values())]


def test_int_is_the_id_converter_for_every_rule(app):
    rules = _int_rules(app)
    assert len(rules) >= 30
    plain = [r.rule for r in app.url_map.iter_rules()
             for c in r._converters.values() if type(c).__name__ == "IntegerConverter"]
    assert not plain, f"rules with werkzeug's own int converter: {plain}"


@pytest.mark.parametrize("role", ROLES)
def test_odd_ids_in_a_path_are_404_for_every_rule(app, world, actors, role):
    actor, failures, sent = actors[role], [], 0
    for rule in _int_rules(app):
        good = {**rule_args(rule, world), **({"instance_number": 0} if "instance_number" in rule.arguments else {})}
        for name, converter in rule._converters.items():
            if not isinstance(converter, IdConverter):
                continue
            for value in BAD:
                url = _path(rule, {**good, name: value})
                for method in _methods(rule):
                    what = f"{role} {method} {rule.rule} {name}={value[:20]}"
                    res = _send(actor, method, url, {}, what, failures)
                    sent += 1
                    if res is not None and res.status_code != 404:
                        failures.append(f"{what}: {res.status_code}, not 404")
    if role == "admin":  # in range but no such row: the view's lookup answers, not the database
        for rule in _int_rules(app):
            good = rule_args(rule, world)
            for name in (n for n, c in rule._converters.items() if isinstance(c, IdConverter)):
                for method in _methods(rule):
                    _send(actor, method, _path(rule, {**good, name: MAX_ID}), {},
                          f"admin {method} {rule.rule} {name}={MAX_ID}", failures)
    assert sent >= 30 * len(BAD)
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:60])


def test_the_largest_id_still_reaches_the_view(client):
    """2**31 - 1 is an id as far as routing goes: the view looks it up and answers 404."""
    assert client.get(f"/coupons/{MAX_ID}").status_code == 404
    assert client.get(f"/coupons/{MAX_ID + 1}").status_code == 404


def _numeric_fields(form) -> list[str]:
    """Fields that carry a number: number inputs, and choices or hidden values that are ids."""
    names = []
    for f in form["fields"]:
        values = [v for v in f["options"] + [f["value"] or ""] if v]
        if f["kind"] == "number" or (f["kind"] in ("select", "radio", "checkbox", "hidden") and values
                                      and all(v.isascii() and v.isdigit() for v in values)):
            names.append(f["name"])
    return names


@pytest.mark.parametrize("role", ROLES)
def test_odd_numbers_in_queries_and_forms_never_give_a_5xx(app, world, actors, role):
    actor, failures, sent = actors[role], [], 0
    rules = {r.endpoint: r for r in app.url_map.iter_rules()}
    assert set(NUMERIC) <= set(rules), f"NUMERIC names unknown endpoints: {sorted(set(NUMERIC) - set(rules))}"

    # the parameters the views read as numbers, one at a time on their own endpoint
    for endpoint, (method, names) in NUMERIC.items():
        url = _path(rules[endpoint], rule_args(rules[endpoint], world))
        for name in names:
            for value in BAD:
                _send(actor, method, url, {name: value}, f"{role} {method} {url} {name}={value[:20]}", failures)
                sent += 1

    # every page with all those names at once (a sweep for a page that reads one NUMERIC
    # does not list; two requests, each name a different odd value in each), and every
    # numeric field of the page's forms
    forms, seen = [], set()
    for url in _pages(app, world, role):
        for shift in (0, len(BAD) // 2):
            query = {name: BAD[(i + shift) % len(BAD)] for i, name in enumerate(NUMERIC_NAMES)}
            _send(actor, "GET", url, query, f"{role} GET {url} {({k: v[:20] for k, v in query.items()})}", failures)
            sent += 1
        res = actor.get(url)
        if res.mimetype != "text/html":
            continue
        for form in parse_forms(res.get_data(as_text=True), url):
            key = (form["method"], re.sub(r"/\d+", "/N", form["action"].split("?")[0]),
                   tuple(sorted(f["name"] for f in form["fields"])))
            if key not in seen and form["action"].split("?")[0] not in SKIP_FORMS:
                seen.add(key)
                forms.append(form)
    fields = 0
    for form in forms:
        base = _base(form)
        for name in _numeric_fields(form):
            fields += 1
            for value in BAD:
                _send(actor, form["method"], form["action"], dict(base, **{name: value}),
                      f"{role} {form['method']} {form['action']} {name}={value[:20]}", failures)
                sent += 1
    assert sent >= len(NUMERIC) * len(BAD)
    if role in ("publisher_a", "admin"):
        assert fields >= 3, "the game and coupon forms have number fields"
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:60])

