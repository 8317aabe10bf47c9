"""Security headers and a Content-Security-Policy that the templates can live with."""
import re
from html.parser import HTMLParser

import pytest

from shop.config import ROOT
from shop.web.security import content_security_policy

TEMPLATES = ROOT / "templates"


def _directives(policy: str) -> dict:
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


@pytest.mark.parametrize("who, path", [("anonymous", "/"), ("anonymous", "/login"), ("anonymous", "/games"),
                                       ("customer_a", "/account"), ("customer_a", "/cart"),
                                       ("publisher_a", "/publisher/games"), ("admin", "/admin/categories"),
                                       ("anonymous", "/no-such-page")])
def test_html_responses_carry_the_security_headers(actors, who, path):
    res = actors[who].get(path)
    assert res.mimetype == "text/html"
    h = res.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "same-origin"
    csp = _directives(h["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["style-src"] and csp["connect-src"] == ["'self'"]  # htmx XHR + SSE


def test_non_html_responses_get_nosniff(actors, world):
    res = actors["anonymous"].get("/healthz")
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in res.headers
    res = actors["anonymous"].get("/static/js/app.js")
    assert res.headers["X-Content-Type-Options"] == "nosniff"


def test_policy_follows_the_configuration():
    toss = _directives(content_security_policy({"PAYMENT_GATEWAY": "toss"}))
    assert "https://js.tosspayments.com" in toss["script-src"] and "https://*.tosspayments.com" in toss["frame-src"]
    sandbox = _directives(content_security_policy({"PAYMENT_GATEWAY": "sandbox"}))
    assert sandbox["script-src"] == ["'self'"] and sandbox["frame-src"] == ["'none'"]
    s3 = _directives(content_security_policy({"S3_BUCKET": "b", "S3_PUBLIC_URL": "https://cdn.example/media"}))
    assert "https://cdn.example" in s3["img-src"]


class _InlineFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"{name}= on <{tag}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{name}=javascript: on <{tag}>")
            if name == "hx-vals" and (value or "").lstrip().startswith("js:"):
                self.found.append(f"hx-vals=js: on <{tag}>")
        types = dict(attrs)
        if tag == "script" and not types.get("src") and types.get("type") != "application/json":
            self.found.append("an inline <script> (move it to static/js, pass data as application/json)")
        if tag == "style":
            self.found.append("a <style> element (move it to static/css)")


def test_templates_have_nothing_the_policy_blocks():
    """No inline <script>, inline event handlers, hx-on (eval), javascript: URLs or <style>
    in any page template (mail templates are not pages: they are exempt; so is our copy of
    rq-dashboard's base page, whose own scripts run under its own policy, shop/admin/jobs.py)."""
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if path.relative_to(TEMPLATES).parts[0] in ("email", "rq_dashboard"):
            continue
        text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)  # Jinja comments
        finder = _InlineFinder()
        finder.feed(text)
        problems += [f"{path.relative_to(ROOT)}: {what}" for what in finder.found]
    assert not problems, "\n".join(problems)


def test_htmx_runs_without_eval_and_injected_styles(actors):
    page = actors["anonymous"].get("/").get_data(as_text=True)
    assert '"allowEval": false' in page and '"includeIndicatorStyles": false' in page
    assert "/static/js/app.js" in page
    assert ".htmx-indicator" in (ROOT / "static/css/app.css").read_text()


@pytest.mark.parametrize("path", ["/games?q=a%00b", "/search?q=%00", "/login?next=/%00"])
def test_nul_bytes_in_query_are_refused(actors, path):
    res = actors["anonymous"].get(path)
    assert res.status_code == 400 and "Traceback" not in res.get_data(as_text=True)


def test_nul_bytes_in_forms_are_refused_before_the_view(app, actors, world):
    res = actors["customer_a"].post("/account/profile", {"nickname": "Nul\x00Byte"})
    assert res.status_code == 400
    assert actors["customer_a"].get("/account").get_data(as_text=True).count("Nul") == 0
