"""Response hardening: security headers, the Content-Security-Policy, and a guard
against NUL bytes in request input.

The CSP lets scripts, styles, XHR and SSE come only from this origin (plus the Toss
payment script when Toss is the gateway, and the S3 host for images, and for XHR build
uploads, when uploads live there). No inline <script>, no inline event handlers, no eval: the templates keep their
JavaScript in static/js/, and htmx runs with `allowEval` off (the htmx-config meta in
templates/base.html), so `hx-on` and `js:` values are not used. Inline style
*attributes* stay allowed (`style-src-attr`): the templates set CSS custom properties
such as `style="--h: 120"` for cover hues and rating stars; <style> elements are not.
`form-action` is left open on purpose: linking a social account is a POST whose answer
redirects to the provider, which a `form-action 'self'` would block in Chromium.
"""
from urllib.parse import urlsplit

from flask import abort, request

TOSS_HOSTS = "https://*.tosspayments.com"
# On every response (the coupon fast lane adds the same ones to its own answers).
BASE_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "same-origin"))


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(config) -> str:
    """The policy for this app's configuration (computed once per app)."""
    scripts, frames, connect, images = ["'self'"], [], ["'self'"], ["'self'", "data:"]
    if config.get("PAYMENT_GATEWAY") == "toss":
        scripts.append("https://js.tosspayments.com")
        frames.append(TOSS_HOSTS)
        connect.append(TOSS_HOSTS)
    if config.get("S3_BUCKET"):
        # a public base URL names the host; presigned URLs can point at any S3 endpoint
        images.append(_origin(config.get("S3_PUBLIC_URL")) or _origin(config.get("S3_ENDPOINT_URL")) or "https:")
        # build uploads PUT their parts straight to the bucket (presigned, shop/library/builds.py)
        connect.append(_origin(config.get("S3_ENDPOINT_URL")) or "https://*.amazonaws.com")
    directives = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": images,
        "font-src": ["'self'"],
        "connect-src": connect,
        "frame-src": frames or ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values.getlist(key)) for key in values)


def init_app(app):
    """Register the headers (every response) and the NUL-byte guard (every request)."""
    policy = content_security_policy(app.config)

    @app.before_request
    def refuse_nul_bytes():
        # No text this store keeps may contain NUL; PostgreSQL cannot store it at all
        # (the driver raises), so it is refused here with a 400 for every route.
        if "\x00" in request.path or _has_nul(request.args) or (
                request.method in ("POST", "PUT", "PATCH", "DELETE") and _has_nul(request.form)):
            abort(400)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        for name, value in BASE_HEADERS:
            headers.setdefault(name, value)
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", policy)
        if "HX-Request" in request.headers or response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response
