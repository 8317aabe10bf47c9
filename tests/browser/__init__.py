"""Browser tests: Playwright drives Debian's chromium against a real gunicorn server
and a real RQ worker (see conftest.py). Screenshots land in artifacts/screenshots/."""
