"""Catalog routes (manage_views)."""
from .blueprint import bp  # noqa: F401
