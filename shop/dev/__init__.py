"""Development-only pieces: the `make run` launcher, the SMTP sink, the embedded Redis and demo data."""
