#!/usr/bin/env python
"""Store-front benchmark: home, /games, a tag page, page 500 of /games, a game page, search
(a rare word, a common word, two words, Korean, a typo), and a logged-in home, /games,
game page and cart, each at --connections under gunicorn, against an empty Flask view
served by the same gunicorn in the same run.

    .venv/bin/python bench/storefront.py --games 1000000             # what docs/benchmarks.md records
    .venv/bin/python bench/storefront.py --games 2000 --duration 3   # a quick look

PostgreSQL (--pg-url; the database is created when missing and its catalog reused by a
rerun, seeded with `flask catalog seed`'s code); a private redis-server; gunicorn with
gunicorn.conf.py, APP_ENV=production, WEB_CONCURRENCY=--workers, the app of
bench/storefront_app.py (the real app plus /__empty). Load: wrk (`apt-get install wrk`),
--duration seconds per page, latency from wrk's histogram. The empty view runs for
--baseline-duration seconds just before each page, and the page's ratio is to that run:
on a shared machine the floor drifts within minutes. Then, one request at a time,
each anonymous page with every cached copy dropped (cold: the median of five such
requests) against the median of the next five (warm).

Goals (issue 22): anonymous pages >= 0.5x the empty view's requests/s, logged-in pages
>= 0.2x, p99 < 100 ms, cold <= 10x warm. Current figures: docs/benchmarks.md.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (RedisServer, bulk_users, free_port, fresh_database, host, log, migrate,  # noqa: E402
                           start_gunicorn, table, wait_serving)
from bench.harness.run import http_get  # noqa: E402

SECRET_KEY = "storefront-bench-secret-0123456789abcdef"
USER_AGENT = "storefront-bench"
GOALS = {"anonymous": 0.5, "logged-in": 0.2, "p99_ms": 100.0, "cold_over_warm": 10.0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/playcation_bench_storefront")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per page")
    parser.add_argument("--baseline-duration", type=int, default=5,
                        help="seconds of wrk on the empty view just before each page")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk not found: apt-get install wrk")

    folder = Path(tempfile.mkdtemp(prefix="playcation-bench-storefront-"))
    redis = RedisServer(folder)
    redis.start()
    server, name = args.pg_url.rsplit("/", 1)
    url = fresh_database(server, name, keep_existing=True)
    env = dict(os.environ, APP_ENV="production", SECRET_KEY=SECRET_KEY, DATABASE_URL=url, REDIS_URL=redis.url,
               SESSION_COOKIE_SECURE="0", WEB_CONCURRENCY=str(args.workers), PYTHONUNBUFFERED="1",
               UPLOAD_DIR=str(folder / "uploads"), PAYMENT_GATEWAY="sandbox")
    for key in ("TEST_DATABASE_URL", "TEST_REDIS_URL", "FLASK_APP"):
        env.pop(key, None)
    gunicorn = None
    results = {"host": host(), "games": None, "args": vars(args)}
    try:
        migrate(env, timeout=600)
        targets, member = prepare(url, redis.url, args.games, results)
        port = free_port()
        gunicorn = start_gunicorn("bench.storefront_app:app", dict(env, BIND=f"127.0.0.1:{port}"),
                                  folder / "gunicorn.log")
        wait_serving(gunicorn, lambda: b" 200 " in http_get(port, "/healthz")[0] + b" ", "gunicorn /healthz")
        cookie = ["-H", f"Cookie: session={member.cookie}"]
        headers = ["-H", f"User-Agent: {USER_AGENT}", "-H", "Accept-Language: en"]
        pages = [("empty Flask view", "/__empty", "baseline", [])]
        pages += [(label, path, "anonymous", []) for label, path in targets]
        pages += [("home, logged in", "/", "logged-in", cookie),
                  ("/games, logged in", "/games", "logged-in", cookie),
                  ("game page, logged in", targets[4][1], "logged-in", cookie),
                  ("cart, logged in", "/cart", "logged-in", cookie)]
        for label, path, kind, extra in pages:  # warm every cache once
            run_wrk(wrk, port, path, headers + extra, connections=1, duration=1)
        rows = []
        for label, path, kind, extra in pages:
            if kind != "baseline":  # the floor drifts on a shared machine: each page gets its own, just before
                log(f"wrk -c {args.connections} -d {args.baseline_duration}s /__empty (floor for {label})")
                floor = run_wrk(wrk, port, "/__empty", headers, args.connections, args.baseline_duration)
                rows.append(dict(floor, label=f"empty view, before {label}", path="/__empty", kind="floor",
                                 load_avg=round(os.getloadavg()[0], 2)))
            log(f"wrk -c {args.connections} -d {args.duration}s {path} ({label})")
            res = run_wrk(wrk, port, path, headers + extra, args.connections, args.duration)
            res.update(label=label, path=path, kind=kind, load_avg=round(os.getloadavg()[0], 2))
            rows.append(res)
        floors = [row["rps"] for row in rows if row["kind"] in ("baseline", "floor")]
        results["empty_rps"] = {"min": min(floors), "max": max(floors), "median": statistics.median(floors)}
        for before, row in zip([None, *rows], rows):
            floor = before["rps"] if before and before["kind"] == "floor" else row["rps"]
            row["ratio"] = round(row["rps"] / floor, 2) if floor else None
        results["pages"] = rows
        results["cold"] = cold_and_warm(port, [(label, path) for label, path in targets], redis)
        results["host"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def prepare(url: str, redis_url: str, games: int, results: dict):
    """Seed the catalog (when short), one member with a game in their cart; the pages."""
    from sqlalchemy import func, select

    from shop import create_app
    from shop.catalog.models import Game, Tag
    from shop.config import ProductionConfig
    from shop.dev.seed_games import seed_games
    from shop.extensions import db

    app = create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=url, REDIS_URL=redis_url, SECRET_KEY=SECRET_KEY,
                     SESSION_COOKIE_SECURE=False, SERVER_NAME=None)
    with app.app_context():
        have = db.session.scalar(select(func.count()).select_from(Game))
        if have < games:
            log(f"seeding {games - have:,} games (have {have:,}) ...")
            started = time.monotonic()
            seed_games(games, covers=0, reviewed=0)
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
            log(f"seeded in {time.monotonic() - started:.0f}s")
        results["games"] = db.session.scalar(select(func.count()).select_from(Game))
        tag = db.session.scalar(select(Tag.slug).order_by(Tag.id))
        game = db.session.scalar(select(Game).where(Game.status == "listed").order_by(Game.sales_count.desc()).limit(1))
        slug, other = game.slug, db.session.scalar(select(Game.id).where(Game.status == "listed", Game.id != game.id))
    member = member_with_cart(app, 9_000_000, "storefront", USER_AGENT, other)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    targets = [("home", "/"), ("/games", "/games"), ("tag page", f"/games?tag={tag}"),
               ("/games page 500", "/games?page=500"), ("game page", f"/games/{slug}")]
    targets += [(f"search, {label}", f"/search?q={q}") for label, q in SEARCHES]
    return targets, member


# The kinds of bench/search.py's query mix, one query each, as a visitor types them.
SEARCHES = [("rare word", "axolotl"), ("common word", "indie"), ("two words", "dark knight"),
            ("Korean", "기사"), ("typo", "kinght")]


def member_with_cart(app, first_id: int, prefix: str, user_agent: str, game_id: int):
    """One bench member (users from `first_id` on, earlier runs' dropped), with `game_id`
    in the cart; its minted session cookie is `member.cookie`."""
    from shop.cart.models import CartItem
    from shop.extensions import db

    with app.app_context():
        db.session.execute(db.text("DELETE FROM cart_items WHERE user_id >= :first"), {"first": first_id})
        db.session.execute(db.text("DELETE FROM users WHERE id >= :first"), {"first": first_id})
        db.session.commit()
    [member] = bulk_users(app, 1, first_id, prefix, user_agent)
    with app.app_context():
        db.session.add(CartItem(user_id=member.id, game_id=game_id))
        db.session.commit()
    return member


WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_PCT = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
WRK_ERRORS = re.compile(r"Socket errors:.*")
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk, port, path, headers, connections, duration) -> dict:
    path = quote(path, safe="/?=&")
    cmd = [wrk, "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
           "--latency", *headers, f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = WRK_RPS.search(out)
    if not rps:
        raise RuntimeError(f"wrk gave no result for {path}:\n{out}")
    pct = {f"p{p}_ms": round(float(v) * UNIT[u], 1) for p, v, u in WRK_PCT.findall(out)}
    bad = WRK_NON2XX.search(out)
    errors = WRK_ERRORS.search(out)
    if not float(rps.group(1)):
        log(f"wrk answered nothing for {path}:\n{out}")
    return {"rps": float(rps.group(1)), **pct, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else ""}


def cold_and_warm(port, targets, redis, rounds: int = 5) -> list[dict]:
    """Each anonymous page: the median of `rounds` requests each made after every cached
    copy was dropped (pages, heads, fragments, stale copies), so that the first render in
    a worker (which also compiles its templates) does not stand for all; then the median
    of five requests served from the cache."""
    client = redis.client()
    rows = []
    for label, path in targets:
        colds = []
        for _ in range(rounds):
            for pattern in ("page:*", "pagehead:*", "stale:*", "cache:*", "lock:*"):
                keys = list(client.scan_iter(match=pattern, count=1000))
                if keys:
                    client.delete(*keys)
            colds.append(timed_get(port, path))
        cold = statistics.median(colds)
        warm = statistics.median(timed_get(port, path) for _ in range(5))
        rows.append({"label": label, "cold_ms": round(cold, 1), "cold_max_ms": round(max(colds), 1),
                     "warm_ms": round(warm, 1), "cold_over_warm": round(cold / warm, 1) if warm else None})
    return rows


def timed_get(port, path) -> float:
    started = time.perf_counter()
    status, _ = http_get(port, quote(path, safe="/?=&"), timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    if b" 200 " not in status + b" ":
        raise RuntimeError(f"GET {path}: {status!r}")
    return elapsed


def report(results):
    print(f"\n{results['games']:,} games; host {results['host']}; empty view req/s {results['empty_rps']}")
    pages = results["pages"]
    rows = [[r["label"], r["kind"], f"{r['rps']:.0f}", f"{before['rps']:.0f}" if before["kind"] == "floor" else "",
             r["ratio"], r.get("p50_ms"), r.get("p99_ms"), r["non_2xx"], r["load_avg"]]
            for before, r in zip([pages[0], *pages], pages) if r["kind"] != "floor"]
    print(table(["page", "kind", "req/s", "empty just before", "x empty", "p50 ms", "p99 ms", "non-2xx", "load"],
                rows))
    rows = [[r["label"], r["cold_ms"], r["cold_max_ms"], r["warm_ms"], r["cold_over_warm"]] for r in results["cold"]]
    print(table(["page", "cold ms", "slowest cold", "warm ms", "cold / warm"], rows))


if __name__ == "__main__":
    sys.exit(main())
