"""Catalog routes (views)."""
from .blueprint import bp  # noqa: F401
