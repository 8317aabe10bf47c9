"""Admin: publisher (placeholder, filled in by its owner)."""
