"""Catalog routes (wishlist_views)."""
from .blueprint import bp  # noqa: F401
