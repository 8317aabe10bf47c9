#!/usr/bin/env python
"""Game search benchmark: search_ids() and the /search page against a LIKE '%q%' scan,
measured in ONE run on a catalog of --games demo games.

    .venv/bin/python bench/search.py --games 1000000 --db both     # the target size
    .venv/bin/python bench/search.py --games 300 --db sqlite --rounds 3 --page-rounds 1 --like-rounds 1   # a quick look

Bounded: the catalog is seeded once per database (`flask catalog seed` code) and reused
by a rerun, each phase stops at --phase-seconds, the LIKE baseline runs --like-rounds
rounds. Databases: SQLite --sqlite-path, PostgreSQL --pg-url (created when missing).
Redis (a private redis-server unless --redis-url) is only what pages touch.

Over a fixed query mix (MIX), round-robin: the query layer (typos.search: search_ids for
page 1, and on no hits the "did you mean" fallback), the /search page through the test
client, and the LIKE scan it replaces (made to scan:
SQLite NOT INDEXED, PostgreSQL index scans off; plus the planner's own choice, for the
record), and a `SELECT 1` round trip as the floor of any statement on this machine at
this moment. Reported: p50/p95/p99 (nearest rank) per phase and per query class, and the
baseline's median over the query layer's. Current figures: docs/benchmarks.md.
"""
import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fresh_database, latency_summary, percentile, redis_or_private, table  # noqa: E402

MIX = {
    "rare word": ["axolotl", "zugzwang", "quokka"],
    "very common word": ["indie", "singleplayer", "action"],
    "prefix": ["sta", "kni", "metroid"],
    "two words": ["dark knight", "star forge", "lost kingdom"],
    "korean": ["기사", "별빛", "용의 검"],
    # Hangul inside words, found by the title's bigrams: 늑대 in 흰늑대, 하늘 in 밤하늘, 거북 in 바다거북.
    "korean inside words": ["늑대", "하늘", "거북"],
    "korean mixed": ["늑대 indie", "하늘의 검", "섬 pixel"],
    # Mistyped words: no hits, so the "did you mean" fallback (typos.py) finds the titles.
    "typo": ["kinght", "dargon", "별빛 긱사"],
    "no hits": ["xyzzy", "qwerty zxcv", "없는게임"],
}
TARGETS = {"query_p95_ms": 5.0, "query_p99_ms": 50.0, "page_p95_ms": 30.0, "like_ratio": 100.0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sqlite-path", default="/tmp/playcation-bench-search.db")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/playcation_bench")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"),
                        help="default: a private redis-server for the run")
    parser.add_argument("--rounds", type=int, default=150, help="rounds of the mix for the query layer")
    parser.add_argument("--page-rounds", type=int, default=40, help="rounds of the mix for /search")
    parser.add_argument("--like-rounds", type=int, default=2, help="rounds of the mix for the LIKE baseline")
    parser.add_argument("--phase-seconds", type=float, default=120.0, help="stop a phase after this long")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    os.environ.setdefault("APP_ENV", "development")
    args.redis_url, redis_server = redis_or_private(args.redis_url, Path(tempfile.mkdtemp(prefix="playcation-search-")))
    results = {}
    try:
        for name in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
            url = f"sqlite:///{args.sqlite_path}" if name == "sqlite" else args.pg_url
            if name == "postgres":
                server, _, db_name = url.rpartition("/")
                fresh_database(server, db_name, keep_existing=True)  # the seeded catalog is reused
            results[name] = bench_database(name, url, args)
    finally:
        if redis_server is not None:
            redis_server.stop()
    print_summary(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


def bench_database(name: str, url: str, args) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from shop import create_app
    from shop.catalog.models import Game
    from shop.dev.seed_games import seed_games
    from shop.config import DevelopmentConfig
    from shop.extensions import db

    print(f"\n=== {name}: {url}", flush=True)
    app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=url, REDIS_URL=args.redis_url,
                     UPLOAD_DIR="/tmp/playcation-bench-uploads", SERVER_NAME=None)
    with app.app_context():
        upgrade()
        have = db.session.scalar(select(func.count()).select_from(Game))
        if have < args.games:
            print(f"seeding {args.games - have:,} games (have {have:,}) ...", flush=True)
            started = time.monotonic()
            done = [0]

            def progress(n):
                done[0] += n
                if done[0] % 100_000 < n:
                    print(f"  {have + done[0]:,} games, {time.monotonic() - started:.0f}s", flush=True)

            seed_games(args.games, covers=0, reviewed=0, progress=progress)  # search needs no reviews
            print(f"seeded in {time.monotonic() - started:.0f}s", flush=True)
        total = db.session.scalar(select(func.count()).select_from(Game))
        db.session.remove()
    print(f"{total:,} games", flush=True)

    out = {"games": total}
    with app.app_context():
        out["matches"] = count_matches(db)
        # The floor: one `SELECT 1` round trip, interleaved the same way, so that a busy
        # machine's figures can be read as multiples of what any statement costs there.
        out["floor"] = measure(lambda q: round_trip(db), max(1, args.rounds // 3), args.phase_seconds, "SELECT 1 floor")
        out["query"] = measure(lambda q: query_layer(db, q), args.rounds, args.phase_seconds, "query layer")
        out["like_scan"] = measure(lambda q: like_query(db, q, forced=True), args.like_rounds,
                                   args.phase_seconds, "LIKE scan")
        out["like_planner"] = measure(lambda q: like_query(db, q, forced=False), args.like_rounds,
                                      args.phase_seconds, "LIKE, planner's choice")
        db.session.remove()
    client = app.test_client()
    out["page"] = measure(lambda q: page(client, q), args.page_rounds, args.phase_seconds, "/search page")
    return out


def query_layer(db, q):
    from shop.catalog import typos

    hits, _ = typos.search(q, limit=20)  # search_ids, and on no hits the "did you mean" fallback
    db.session.rollback()  # end the read transaction, as a request would
    return len(hits.ids)


def round_trip(db):
    from sqlalchemy import text

    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    return 1


def like_query(db, q, forced: bool):
    """The search this replaces: every word as a substring of search_text."""
    from sqlalchemy import text

    from shop.catalog.search import query_terms

    terms = query_terms(q)
    where = " AND ".join(f"search_text LIKE :w{i}" for i in range(len(terms)))
    params = {f"w{i}": f"%{t}%" for i, t in enumerate(terms)}
    postgres = db.engine.dialect.name == "postgresql"
    table = "games" if postgres or not forced else "games NOT INDEXED"
    if postgres and forced:
        for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
            db.session.execute(text(f"SET LOCAL {setting} = off"))
    rows = db.session.execute(text(f"SELECT id FROM {table} WHERE status = 'listed' AND {where} "
                                   "ORDER BY sales_count DESC, id DESC LIMIT 21"), params).all()
    db.session.rollback()
    return len(rows)


def page(client, q):
    response = client.get("/search", query_string={"q": q})
    assert response.status_code == 200, (q, response.status_code)
    return response.data.count(b'class="search-title"')


def count_matches(db) -> dict:
    """How many games each query matches (context for the figures; not timed)."""
    from sqlalchemy import text

    from shop.catalog.search import _fts_term, query_terms
    from shop.catalog.search_pg import tsquery

    counts = {}
    for queries in MIX.values():
        for q in queries:
            terms = query_terms(q)
            if db.engine.dialect.name == "postgresql":
                sql = "SELECT count(*) FROM games WHERE status = 'listed' AND search_vector @@ to_tsquery('simple', :q)"
                params = {"q": tsquery(terms)}
            else:
                sql = "SELECT count(*) FROM games_search WHERE games_search MATCH :q"
                params = {"q": " AND ".join(_fts_term(t) for t in terms)}
            counts[q] = db.session.scalar(text(sql), params) if terms else 0
    db.session.rollback()
    return counts


def measure(run, rounds: int, budget: float, label: str) -> dict:
    """Time `run(q)` over the mix, `rounds` times (shuffled, seeded), after one warm-up."""
    order = [(cls, q) for cls, queries in MIX.items() for q in queries]
    for _, q in order:
        run(q)  # warm-up: caches, prepared plans
    rng = random.Random(7)
    samples: dict[str, list[float]] = {cls: [] for cls in MIX}
    gc.collect()
    started = time.monotonic()
    done = 0
    for _ in range(rounds):
        rng.shuffle(order)
        for cls, q in order:
            t = time.perf_counter()
            run(q)
            samples[cls].append((time.perf_counter() - t) * 1000)
        done += 1
        if time.monotonic() - started > budget:
            break
    every = [x for xs in samples.values() for x in xs]
    load = os.getloadavg()[0]  # the machine is shared: say how busy it was
    print(f"  {label:<24} {len(every):5d} samples in {time.monotonic() - started:6.1f}s   "
          f"p50 {percentile(every, 50):8.2f}  p95 {percentile(every, 95):8.2f}  p99 {percentile(every, 99):8.2f} ms   "
          f"(load average {load:.1f} on {os.cpu_count()} cores)", flush=True)
    korean = [x for cls, xs in samples.items() if cls.startswith("korean") for x in xs]
    return {"rounds": done, "load": load, "all": summary(every), "korean_p95": percentile(korean, 95),
            "by_class": {cls: summary(xs) for cls, xs in samples.items()}}


def summary(values) -> dict:
    return {**latency_summary(values, digits=3), "mean": statistics.fmean(values) if values else 0.0}


def print_summary(results: dict, args):
    for name, r in results.items():
        q, like, page_ = r["query"]["all"], r["like_scan"]["all"], r["page"]["all"]
        print(f"\n##### {name}: {r['games']:,} games")
        rows = []
        for cls, queries in MIX.items():
            qc, pc = r["query"]["by_class"][cls], r["page"]["by_class"][cls]
            lc, lp = r["like_scan"]["by_class"][cls], r["like_planner"]["by_class"][cls]
            rows.append([cls, "/".join(f"{r['matches'][x]:,}" for x in queries), qc["p50"], qc["p95"], qc["p99"],
                         pc["p50"], pc["p95"], lc["p50"], lp["p50"],
                         f"{lc['p50'] / qc['p50']:.0f}x" if qc["p50"] else "-"])
        print(table(["class", "matches", "query p50", "p95", "p99", "/search p50", "p95", "LIKE scan p50",
                     "LIKE planner p50", "ratio p50"], rows,
                    ["", "", ".2f", ".2f", ".2f", ".2f", ".2f", ".1f", ".1f", ""]) + "\n(all in ms)")
        ratio_p50 = like["p50"] / q["p50"] if q["p50"] else float("inf")
        ratio_p95 = like["p50"] / q["p95"] if q["p95"] else float("inf")
        print(f"all queries: query p50 {q['p50']:.2f} / p95 {q['p95']:.2f} / p99 {q['p99']:.2f} ms;  "
              f"/search p50 {page_['p50']:.2f} / p95 {page_['p95']:.2f} / p99 {page_['p99']:.2f} ms;  "
              f"LIKE scan p50 {like['p50']:.1f} ms")
        print(f"LIKE scan p50 / query p50 = {ratio_p50:,.0f}x;  LIKE scan p50 / query p95 = {ratio_p95:,.0f}x")
        floor = r["floor"]["all"]
        print(f"SELECT 1 floor p50 {floor['p50']:.2f} / p95 {floor['p95']:.2f} ms;  query p50 / floor p50 = "
              f"{q['p50'] / floor['p50']:.1f}x, query p95 / floor p95 = {q['p95'] / floor['p95']:.1f}x, "
              f"/search p95 / floor p95 = {page_['p95'] / floor['p95']:.1f}x")
        korean_q, korean_page = r["query"]["korean_p95"], r["page"]["korean_p95"]
        for label, value, target, ok in (
            ("query layer p95 (ms)", q["p95"], "<= 5", q["p95"] <= TARGETS["query_p95_ms"]),
            ("query layer p95, Korean classes (ms)", korean_q, "<= 5", korean_q <= TARGETS["query_p95_ms"]),
            ("/search page p95, Korean classes (ms)", korean_page, "<= 30", korean_page <= TARGETS["page_p95_ms"]),
            ("query layer p99 (ms)", q["p99"], "<= 50", q["p99"] <= TARGETS["query_p99_ms"]),
            ("/search page p95 (ms)", page_["p95"], "<= 30", page_["p95"] <= TARGETS["page_p95_ms"]),
            ("LIKE scan p50 / query p50", ratio_p50, ">= 100", ratio_p50 >= TARGETS["like_ratio"]),
        ):
            print(f"  [{'ok' if ok else 'MISS'}] {label}: {value:,.2f} (target {target})")


if __name__ == "__main__":
    sys.exit(main())
