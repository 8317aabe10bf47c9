"""Admin: games (placeholder, filled in by its owner)."""
