"""Admin: orders (placeholder, filled in by its owner)."""
