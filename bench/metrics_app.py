"""The WSGI app bench/metrics_cost.py serves: `wsgi:app` plus one bench-only route,
GET /__bench/bare, which goes through all of Flask's global hooks (request id, session,
CSRF, Flask-Limiter, security headers, the request log and, unless METRICS_ENABLED=false,
the metrics observation) and answers a constant. Only bench/metrics_cost.py starts it."""
from wsgi import app

from shop.extensions import limiter


@limiter.exempt
def bare():
    return "ok"


app.add_url_rule("/__bench/bare", "bench_bare", bare)
