"""The catalog blueprint; routes live in views.py (storefront), manage_views.py
(publishers and admins), search_views.py (search) and wishlist_views.py."""
from flask import Blueprint

bp = Blueprint("catalog", __name__)
