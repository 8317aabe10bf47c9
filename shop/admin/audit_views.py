"""Admin: audit_views (placeholder, filled in by its owner)."""
