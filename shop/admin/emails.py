"""Admin: emails (placeholder, filled in by its owner)."""
