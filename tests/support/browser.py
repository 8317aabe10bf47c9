"""Behaviour helpers that read like the user: browser.login(...), outbox.codes()."""
import re
import shutil
from pathlib import Path

from shop.dev.mail import read_messages

TOKEN_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
CODE_RE = re.compile(r"\b(\d{6})\b")


def run_jobs(app) -> int:
    """Run every queued RQ job in this process (a burst worker), like worker.py would."""
    from shop.infra.jobs import make_worker

    worker = make_worker(app)
    worker.work(burst=True, with_scheduler=False)
    return worker.successful_job_count if hasattr(worker, "successful_job_count") else 0


class Outbox:
    """What the real SMTP sink received."""

    def __init__(self, folder: Path, port: int):
        self.folder = Path(folder)
        self.port = port
        self.app = None

    def clear(self):
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)

    def deliver(self) -> list[dict]:
        """Run pending jobs (mail goes out through RQ), then read the sink."""
        if self.app is not None:
            run_jobs(self.app)
        return self.messages()

    def messages(self, to: str | None = None) -> list[dict]:
        msgs = read_messages(self.folder)
        return [m for m in msgs if to is None or to in m["to"]]

    def last_code(self, to: str) -> str:
        msgs = [m for m in self.deliver() if to in m["to"]]
        assert msgs, f"no mail to {to}"
        return CODE_RE.search(msgs[0]["subject"] + " " + msgs[0]["text"]).group(1)

    def last_link(self, to: str) -> str:
        msgs = [m for m in self.deliver() if to in m["to"]]
        assert msgs, f"no mail to {to}"
        return re.search(r"https?://\S+", msgs[0]["text"]).group(0)


def login_id(app, user_id: int, remember: bool = False) -> str:
    """The `_user_id` Flask-Login stores after the login form, for a new login of this
    user with its own record (accounts/sessions.py), without the argon2 round trip."""
    from shop.accounts import sessions
    from shop.accounts.models import User
    from shop.extensions import db

    with app.app_context():
        user = db.session.get(User, user_id)
        user.login_session_id = sessions.start(user, user_agent="test client", remote_addr="127.0.0.1",
                                               remember=remember)
        return user.get_id()


class Browser:
    """A test client that sends the CSRF token the way a browser would: scraped from
    the page (hidden input / hx-headers)."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def csrf_token(self) -> str:
        page = self.client.get("/").get_data(as_text=True)
        return TOKEN_RE.search(page).group(1)

    def post(self, url, data=None, csrf=True, htmx=False, **kwargs):
        data = dict(data or {})
        headers = dict(kwargs.pop("headers", {}))
        if csrf:
            if "csrf_token" not in data:
                data["csrf_token"] = self.csrf_token()
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(url, data=data, headers=headers, **kwargs)

    # --- journeys ---
    def signup(self, email="new@example.com", nickname="Newbie", password="a long passphrase 1", **extra):
        return self.post("/signup", {"email": email, "nickname": nickname, "password": password,
                                     "confirm": extra.pop("confirm", password), **extra})

    def login(self, email, password="a long passphrase 1", remember=False, next=None):
        url = "/login" + (f"?next={next}" if next else "")
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        return self.post(url, data)

    def logout(self):
        return self.post("/logout")

    def verify(self, code):
        return self.post("/verify", {"code": code})

    def current_nickname(self) -> str | None:
        page = self.client.get("/account")
        if page.status_code != 200:
            return None
        m = re.search(r"<h2>([^<]+)</h2>", page.get_data(as_text=True))
        return m.group(1) if m else None
