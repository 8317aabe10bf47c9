#!/usr/bin/env python
"""CPU and database cost of the logged-in store-front pages, one request at a time and
in-process (Flask's test client, no server, no concurrency): the median milliseconds of
--runs warm requests per page for one logged-in member (a game in their cart), beside
an anonymous /games and /healthz. Steadier than wrk's requests/s on a shared machine.

    .venv/bin/python bench/member_pages.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/pt_x_bench \
        --redis-url redis://127.0.0.1:6471/0

Uses a catalog bench/storefront.py seeded in that database (it seeds none itself).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER_AGENT = "member-pages-bench"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args(argv)

    from sqlalchemy import func, select

    from bench.storefront import member_with_cart
    from shop import create_app
    from shop.catalog.models import Game, Tag
    from shop.config import ProductionConfig
    from shop.extensions import db

    app = create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=args.pg_url, REDIS_URL=args.redis_url,
                     SECRET_KEY="member-pages-bench-secret", SESSION_COOKIE_SECURE=False, SERVER_NAME=None)
    with app.app_context():
        games = db.session.scalar(select(func.count()).select_from(Game))
        tag = db.session.scalar(select(Tag.slug).order_by(Tag.id))
        slug, other = db.session.execute(select(Game.slug, Game.id).where(Game.status == "listed")
                                         .order_by(Game.sales_count.desc()).limit(1)).one()
    member = member_with_cart(app, 9_200_000, "memberpages", USER_AGENT, other)
    headers = {"User-Agent": USER_AGENT, "Accept-Language": "en"}
    pages = [("/healthz", "/healthz", False), ("/games, anonymous", "/games", False),
             ("home, logged in", "/", True), ("/games, logged in", "/games", True),
             ("tag page, logged in", f"/games?tag={tag}", True), ("game page, logged in", f"/games/{slug}", True),
             ("cart, logged in", "/cart", True)]
    print(f"{games:,} games; median of {args.runs} warm requests, one at a time, in-process")
    for label, path, logged_in in pages:
        client = app.test_client()
        if logged_in:
            client.set_cookie("session", member.cookie)
        get = lambda: client.get(path, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})  # noqa: E731
        for _ in range(3):
            status = get().status_code
        samples = []
        for _ in range(args.runs):
            started = time.perf_counter()
            get()
            samples.append((time.perf_counter() - started) * 1000)
        print(f"{label:22} {status} {statistics.median(samples):7.2f} ms")
    # A member's first visit to each of --runs games whose shared member copy is already
    # cached (another member saw it): only their own buy box and reviews are rendered.
    with app.app_context():
        slugs = list(db.session.scalars(select(Game.slug).where(Game.status == "listed")
                                        .order_by(Game.sales_count.desc()).offset(1).limit(args.runs)))
    other_member = member_with_cart(app, 9_300_000, "memberpages2", USER_AGENT, other)
    first, client = app.test_client(), app.test_client()
    first.set_cookie("session", other_member.cookie)
    client.set_cookie("session", member.cookie)
    samples = []
    for game_slug in slugs:
        first.get(f"/games/{game_slug}", headers=headers)
        started = time.perf_counter()
        client.get(f"/games/{game_slug}", headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{'game page, first visit':22}     {statistics.median(samples):7.2f} ms  (the member's own parts rendered)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
