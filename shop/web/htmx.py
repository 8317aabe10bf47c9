"""htmx request helpers shared by the views."""
from flask import request


def wants_fragment() -> bool:
    """htmx asked for a fragment (a boosted navigation still wants the whole page)."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")
