"""A Browser whose requests come from a given client IP."""
from .support.browser import Browser


class _IPBrowser(Browser):
    def __init__(self, app, ip):
        super().__init__(app)
        self.client.environ_base["REMOTE_ADDR"] = ip


def browser_from(app, ip) -> Browser:
    return _IPBrowser(app, ip)
