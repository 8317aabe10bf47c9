"""Behaviour helpers for builds: a publisher who uploads through the page's JSON API the
way static/js/builds.js does, and an owner who downloads."""
import hashlib
import os

from sqlalchemy import select

from shop.extensions import db
from shop.library.build_models import Build, Download

from .browser import run_jobs
from .orders import ShopBrowser, session_login


def browser_as(app, user_id) -> ShopBrowser:
    browser = ShopBrowser(app)
    session_login(app, browser, user_id)
    return browser


def payload(size: int) -> bytes:
    return os.urandom(size)


class Uploader:
    """The page's script, in a test client: start, PUT chunks, complete, verify."""

    def __init__(self, app, browser: ShopBrowser):
        self.app, self.browser = app, browser

    def headers(self, csrf=True, **extra):
        base = {"Accept": "application/json"}
        if csrf:
            base["X-CSRFToken"] = self.browser.csrf_token()
        return {**base, **extra}

    def start(self, game_id, size, version="1.0.0", platform="windows", notes="First release.",
              filename="game-setup.exe", csrf=True):
        data = {"version": version, "platform": platform, "notes": notes, "filename": filename, "size": str(size)}
        if csrf:
            data["csrf_token"] = self.browser.csrf_token()
        return self.browser.client.post(f"/publisher/games/{game_id}/builds", data=data,
                                        headers={"Accept": "application/json"})

    def put(self, build_id, offset, data: bytes, csrf=True):
        return self.browser.client.put(f"/publisher/builds/{build_id}/upload?offset={offset}", data=data,
                                       headers=self.headers(csrf, **{"Content-Type": "application/octet-stream"}))

    def status(self, build_id):
        return self.browser.client.get(f"/publisher/builds/{build_id}/upload", headers={"Accept": "application/json"})

    def complete(self, build_id, sha256: str, csrf=True):
        data = {"sha256": sha256}
        if csrf:
            data["csrf_token"] = self.browser.csrf_token()
        return self.browser.client.post(f"/publisher/builds/{build_id}/complete", data=data,
                                        headers={"Accept": "application/json"})

    def publish(self, build_id, csrf=True):
        return self.browser.post(f"/publisher/builds/{build_id}/publish", csrf=csrf)

    def upload_local(self, game_id, data: bytes, chunk: int, **fields) -> int:
        """The whole upload, chunk by chunk, verified by the worker. Returns the build id."""
        res = self.start(game_id, len(data), **fields)
        assert res.status_code == 201, res.get_json()
        build_id = res.get_json()["id"]
        for offset in range(0, len(data), chunk):
            res = self.put(build_id, offset, data[offset:offset + chunk])
            assert res.status_code == 200, res.get_json()
        assert self.complete(build_id, hashlib.sha256(data).hexdigest()).status_code == 200
        run_jobs(self.app)
        return build_id


def build_row(app, build_id) -> Build:
    with app.app_context():
        build = db.session.get(Build, build_id)
        db.session.expunge(build)
        return build


def downloads_of(app, user_id) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Download.build_id).where(Download.user_id == user_id)
                                       .order_by(Download.id)))
