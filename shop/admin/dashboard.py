"""Admin: dashboard (placeholder, filled in by its owner)."""
