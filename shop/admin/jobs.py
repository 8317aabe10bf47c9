"""Admin: jobs (placeholder, filled in by its owner)."""
