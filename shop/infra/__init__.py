"""Infrastructure shared by every domain: connections to Redis and other outside services."""
