#!/usr/bin/env python
"""Template cost of a store-front list: renders /games' list (catalog/_game_list.html, one
page of game cards with their cart buttons) and the home page rows, in-process, with the
games already loaded, so only Jinja and url_for are timed. Prints the median of --runs.

    .venv/bin/python bench/list_render.py --redis-url redis://127.0.0.1:6471/0

A throwaway SQLite database with --games demo games (`flask catalog seed`'s code).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args(argv)

    from flask import render_template, request

    from shop import create_app
    from shop.catalog import card_states, storefront
    from shop.config import ProductionConfig
    from shop.dev.seed_games import seed_games
    from shop.extensions import db
    from shop.timeutil import utcnow

    from bench.harness import migrate

    folder = Path(tempfile.mkdtemp(prefix="playcation-list-render-"))
    url = f"sqlite:///{folder / 'shop.db'}"
    env = dict(os.environ, APP_ENV="production", SECRET_KEY="list-render-bench", DATABASE_URL=url,
               REDIS_URL=args.redis_url)
    env.pop("TEST_DATABASE_URL", None)
    migrate(env)
    app = create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=url,
                     REDIS_URL=args.redis_url, SECRET_KEY="list-render-bench", SERVER_NAME=None,
                     UPLOAD_DIR=str(folder / "uploads"))
    with app.app_context():
        seed_games(args.games, covers=0, reviewed=0)
    with app.test_request_context("/games"):
        now = utcnow()
        query = storefront.BrowseQuery.from_args(request.args)
        result = storefront.browse(query, now)
        rows = [("New releases", {"sort": "newest"}, storefront.new_releases(now))]
        for game in result.games + rows[0][2]:  # load what the cards read, outside the timing
            list(game.tags), game.category
        context = dict(result=result, query=query, canonical="/games", now=now,
                       cart_states=card_states.states(None, result.games))
        timings = {}
        for name, render in (("/games list", lambda: render_template("catalog/_game_list.html", **context)),
                             ("home row", lambda: render_template("catalog/_home_rows.html", now=now, rows=rows))):
            render()
            samples = []
            for _ in range(args.runs):
                started = time.perf_counter()
                render()
                samples.append((time.perf_counter() - started) * 1000)
            timings[name] = statistics.median(samples)
        print(f"{len(result.games)} cards on /games, {len(rows[0][2])} in the home row; median of {args.runs} renders")
        for name, ms in timings.items():
            print(f"{name:12} {ms:7.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
