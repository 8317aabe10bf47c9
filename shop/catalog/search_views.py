"""Catalog routes (search_views)."""
from .blueprint import bp  # noqa: F401
