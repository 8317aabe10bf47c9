"""The WSGI app bench/storefront.py serves: the real app (`wsgi:app`) plus one empty Flask
view, /__empty, so the store's pages are compared with what the same server, worker class
and Flask middleware (session, CSRF, security headers, request log) cost with no work.
Only bench/storefront.py starts gunicorn with this module, on 127.0.0.1."""
from wsgi import app


@app.route("/__empty")
def empty():
    return ""
