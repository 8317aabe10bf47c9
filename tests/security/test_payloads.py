"""The payload corpus through every form field and search/browse query parameter.

Forms are discovered, not listed: each page the app has (GET rules, with registry
arguments for those that take some) is fetched as anonymous, a customer, a publisher
and an admin; every <form> found is submitted once per (field, payload) with a valid
CSRF token, the other fields keeping the page's values. Never a 5xx (in tests an
unhandled exception propagates and is caught here); anything echoed back is escaped,
also on the pages that show stored data afterwards."""
import itertools
import re
import time

from html.parser import HTMLParser

import pytest

from .conftest import parse_forms
from .registry import REGISTRY, is_admin_rule, rule_args

LONG = "x" * 100_000
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)",
       "' autofocus onfocus='alert(1)", '"><svg onload=alert(1)>']
INJECTION = ['" OR 1=1 --', "' OR '1'='1' --", "1; DROP TABLE users; --", "NEAR(", "*", '"unbalanced',
             "title:x OR", "a AND OR NOT (", "%_\\", "^*"]
NUMBERS = ["-1", str(10**30), "NaN", "Infinity", "1e309", "0x10", "", " ", "abc", "1.5"]
ODD = ["abc\x00def", LONG, "𝕌𝕟𝕚𝕔𝕠𝕕𝕖 ☃ \u202eRTL", ["two", "values"]]
CORPUS = XSS + INJECTION + NUMBERS + ODD

# Raw markers that may only appear escaped in a response.
RAW_MARKERS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>"]
JS_URL = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)


class DangerFinder(HTMLParser):
    """What a browser would run of ours: an event-handler attribute carrying a corpus
    payload, or an inline <script> that is not data. (The templates' own handlers are
    checked in test_headers.py: the CSP forbids them all.)"""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        handlers = [name for name, value in a.items() if name.startswith("on") and "alert(" in (value or "")]
        if handlers:
            self.found.append(f"<{tag} {handlers[0]}=...>")
        if tag == "script" and not a.get("src") and a.get("type") != "application/json":
            self.found.append("an inline <script>")

ROLES = ("anonymous", "customer_a", "publisher_a", "admin")
SKIP_ENDPOINTS = {"static", "core.media", "core.healthz", "notifications.stream", "coupons.remaining_stream",
                  "admin.coupon_stream", "admin.live_stream", "waiting.stream", "dev.inbox", "dev.inbox_message", "social.login", "social.callback"}
SKIP_FORMS = {"/logout", "/account/withdraw"}  # nothing to fuzz / ends the actor (tested in tests/accounts)
QUERY_PARAMS = ("q", "page", "sort", "category", "tag", "price", "min", "max", "next", "status")


def _pages(app, world, role):
    """GET URLs for a role: rules without arguments, and registry rules it may open."""
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods or rule.endpoint in SKIP_ENDPOINTS or rule.rule.startswith("/admin/rq"):
                continue
            if is_admin_rule(rule) and role != "admin":
                continue
            if rule.arguments:
                entry = REGISTRY.get(rule.endpoint)
                if entry is None and not is_admin_rule(rule):
                    continue  # test_authz fails for those
                if entry is not None and entry.kind == "OWNED" and entry.owner != role:
                    continue
                if entry is not None and entry.kind == "PUBLIC" and rule.endpoint.startswith(("social.", "accounts.")):
                    continue
            urls.append(url_for(rule.endpoint, **rule_args(rule, world)))
    return urls


def _payloads_for(field, counter):
    """A sample of the corpus for one field: an XSS string, an injection string, a number
    trick, and one odd value, rotating so the whole corpus is used across fields."""
    n = next(counter)
    picks = [XSS[n % len(XSS)], INJECTION[n % len(INJECTION)], ODD[n % len(ODD)]]
    if field["kind"] in ("number", "select", "hidden", "radio", "checkbox", "date", "datetime-local"):
        picks += [NUMBERS[n % len(NUMBERS)], NUMBERS[(n + 3) % len(NUMBERS)]]
    else:
        picks.append(NUMBERS[n % len(NUMBERS)])
    return picks


def _base(form):
    data = {}
    for f in form["fields"]:
        if f["kind"] == "file" or f["value"] is None:
            continue
        if f["kind"] in ("checkbox", "radio") and f["name"] in data:
            continue
        data[f["name"]] = f["value"]
    return data


def _check(res, what, failures):
    if res.status_code >= 500:
        failures.append(f"{what}: {res.status_code}")
        return
    body = res.get_data(as_text=True)
    for marker in RAW_MARKERS:
        if marker in body:
            failures.append(f"{what}: raw {marker!r} in the response")
    if JS_URL.search(body):
        failures.append(f"{what}: a javascript: URL in an attribute")
    if res.mimetype == "text/html":
        finder = DangerFinder()
        finder.feed(body)
        failures.extend(f"{what}: {danger}" for danger in finder.found[:1])


def _send(actor, method, url, data, what, failures, **kw):
    try:
        res = actor.request(method, url, data, follow_redirects=True, **kw)
    except Exception as exc:  # in tests an unhandled error propagates instead of a 500 page
        failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
        return
    _check(res, what, failures)


@pytest.mark.parametrize("role", ROLES)
def test_payloads_through_every_form_field(app, world, actors, role):
    started = time.monotonic()
    actor = actors[role]
    failures, forms, seen = [], [], set()
    pages = _pages(app, world, role)
    for url in pages:
        res = actor.get(url)
        if res.mimetype != "text/html":
            continue
        for form in parse_forms(res.get_data(as_text=True), url):
            names = tuple(sorted(f["name"] for f in form["fields"]))
            key = (form["method"], re.sub(r"/\d+", "/N", form["action"].split("?")[0]), names)
            if key in seen or form["action"].split("?")[0] in SKIP_FORMS:
                continue
            seen.add(key)
            forms.append(form)
    assert len(pages) >= 5 and forms, f"no forms found for {role}"
    counter = itertools.count()
    submitted = 0
    for form in forms:
        base = _base(form)
        fields = [f for f in form["fields"] if f["kind"] != "file" and f["name"] != "csrf_token"]
        for field in fields:
            for payload in _payloads_for(field, counter):
                data = dict(base, **{field["name"]: payload})
                _send(actor, form["method"], form["action"], data,
                      f"{role} {form['method']} {form['action']} {field['name']}={str(payload)[:40]!r}", failures)
                submitted += 1
                actor.restore()  # undo a logout or a changed session
    # stored data shows up escaped wherever it is displayed
    for url in pages:
        res = actor.get(url)
        _check(res, f"{role} GET {url} afterwards", failures)
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:60])
    assert submitted >= len(forms)
    assert time.monotonic() - started < 60


def test_payloads_in_query_parameters(app, world, actors):
    """Every page's common query parameters (search, browse filters, paging, sort), and
    the parameters of GET forms (the search box, the browse filters), get the corpus."""
    failures = []
    actor = actors["customer_a"]
    pages = _pages(app, world, "customer_a")
    params = set(QUERY_PARAMS)
    for url in pages:
        res = actor.get(url)
        if res.mimetype == "text/html":
            for form in parse_forms(res.get_data(as_text=True), url):
                if form["method"] == "GET":
                    params.update(f["name"] for f in form["fields"])
    searchy = [u for u in pages if u.split("?")[0] in ("/games", "/search", "/search/live", "/", "/coupons",
                                                       "/orders", "/library", "/wishlist", "/notifications")]
    searchy += [u for u in pages if "/reviews" in u]
    assert "/search" in searchy and "/games" in searchy
    for url in searchy:
        for payload in CORPUS:
            if isinstance(payload, list):
                continue
            query = {name: payload for name in params}
            _send(actor, "GET", url, query, f"GET {url} ?*={str(payload)[:40]!r}", failures)
            _send(actor, "GET", url, {"q": payload}, f"GET {url} ?q={str(payload)[:40]!r}", failures)
        for name in params:  # one parameter at a time with the htmx header (fragments)
            _send(actor, "GET", url, {name: XSS[1]}, f"GET {url} ?{name}=xss (htmx)", failures,
                  headers={"HX-Request": "true"})
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:60])
