"""Web plumbing shared by every domain: htmx helpers, security headers, forms, SSE."""
