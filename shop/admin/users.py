"""Admin: users (placeholder, filled in by its owner)."""
