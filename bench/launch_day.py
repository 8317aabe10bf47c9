#!/usr/bin/env python
"""Launch day: a stampede at a coupon drop behind the waiting room, on two web nodes.

    .venv/bin/python bench/launch_day.py --visitors 20000 --coupons 1000        # the issue's size
    .venv/bin/python bench/launch_day.py --visitors 2000 --coupons 200 --rate 1200   # a quick look

Needs PostgreSQL (TEST_DATABASE_URL or PLAYCATION_PG_URL names the server); starts a
private redis-server, two gunicorn nodes (one gevent worker each: the machine's cores
are shared with the clients), the coupon consumer, and drops its database at the end
(bench/harness/cluster.py). Results: docs/benchmarks.md, "Launch day".

`--visitors` arrive spread evenly over `--arrive-seconds` (10), each logged in (minted
sessions), half on each node. Each opens the waiting page, holds its live stream open,
and when the broadcast's "admitting up to N" reaches its ticket, fetches its pass and
claims at once (bench/launch_client.py; `--client-procs` processes of asyncio clients).
The room admits `--rate` visitors a minute, FIFO. Meanwhile other clients fetch the
home page and a game page (`--store-rps`), and the nodes' memory is sampled.

Checks: exactly --coupons issued (Redis and, once the consumer drained, the database),
one per user; FIFO: every coupon went to an earlier ticket than every visitor left
without one; every waiter got every position update, p99 under 2 s after the bench's
own Redis subscriber saw it published; everyone still waiting heard "sold out" within
2 s of the last coupon; home + game page p99 under 200 ms (and against a baseline taken
just before, same run); no 5xx; node memory back near its start after the streams close.
"""
import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (Cluster, bulk_users, host, latency_summary, log, make_game, make_users,  # noqa: E402
                           percentile, postgres_url, raise_nofile, wait_for)
from bench.launch_client import run_slice, timed_get  # noqa: E402


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--visitors", type=int, default=20000)
    p.add_argument("--coupons", type=int, default=1000)
    p.add_argument("--rate", type=int, default=3000, help="admissions per minute")
    p.add_argument("--arrive-seconds", type=float, default=10.0)
    p.add_argument("--client-procs", type=int, default=2)
    p.add_argument("--store-rps", type=float, default=10.0, help="home/game page fetches per second")
    p.add_argument("--deadline", type=float, default=240.0, help="seconds the visitors get in all")
    p.add_argument("--store-nodes", type=int, default=0,
                   help="extra nodes serving only the store's pages (the load balancer routes /waiting/ and the "
                        "drop to the two line nodes); 0: the store load goes to the line nodes too")
    p.add_argument("--admissions", choices=("process", "web"), default="process",
                   help="who runs the admission loop: `worker.py --admissions` (the web nodes' loop off), "
                        "or a greenlet in each web node")
    p.add_argument("--json", help="write the figures here too")
    return p.parse_args()


def node_rss(cluster) -> int:
    """Resident memory of every web node process (gunicorn masters and workers), bytes."""
    total = 0
    for node in cluster.nodes:
        try:
            proc = psutil.Process(node.proc.pid)
            total += sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
        except psutil.Error:
            pass
    return total


def cpu_seconds(procs) -> float:
    """User + system CPU time of these processes and their children (gunicorn workers)."""
    total = 0.0
    for pid in procs:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
    return total


class Broadcasts(threading.Thread):
    """The bench's own subscriber on the room's channel: when each message was published."""

    def __init__(self, redis_client, channel):
        super().__init__(daemon=True)
        self.pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)
        self.pubsub.get_message(timeout=1)
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                self.seen.setdefault(message["data"].decode(), time.time())


async def store_load(ports, paths, rps: float, seconds: float) -> tuple[list[float], list[int]]:
    latencies, statuses, tasks = [], [], []

    async def one(port, path):
        took, status = await timed_get(port, path)
        latencies.append(took)
        statuses.append(status)

    end, n = time.time() + seconds, 0
    while time.time() < end:
        tasks.append(asyncio.ensure_future(one(ports[n % len(ports)], paths[n % len(paths)])))
        n += 1
        await asyncio.sleep(1 / rps)
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, statuses


def setup(cluster, args):
    from shop.coupons import services as coupons
    from shop.timeutil import utcnow
    from shop.waiting import services as rooms

    app = cluster.app()
    (publisher,) = make_users(app, 1, role="publisher", prefix="launchpub")
    game = make_game(app, publisher.id, "Launch Title", price=30000)
    users = bulk_users(app, args.visitors, 1_000_000, "v", "launch-day", csrf=True)
    now = utcnow()
    with app.app_context():
        event_id = coupons.create_event(coupons.EventInput(
            name="Launch drop", discount_type="fixed", discount_value=5000, quantity=args.coupons,
            opens_at=now - timedelta(seconds=5), closes_at=now + timedelta(hours=1), valid_days=7)).id
        room_id = rooms.save_room(None, rooms.RoomInput(
            name="Launch line", target_kind="coupon", target=str(event_id), mode="rate",
            rate_per_minute=args.rate, active_cap=1, session_minutes=10, queue_order="fifo",
            opens_at=now, on_redis_down="closed", enabled=True)).id
    return app, game, users, event_id, room_id


def main():
    args = parse()
    if not postgres_url():
        sys.exit("needs PostgreSQL: set TEST_DATABASE_URL (or PLAYCATION_PG_URL) to a postgresql+psycopg:// URL")
    raise_nofile(1 << 20)
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="launch-day-")), postgres_url(),
                      os.environ.get("BENCH_DB_NAME", "launch_day_bench"), WEB_CONCURRENCY="1", TRUSTED_PROXIES="0",
                      WAITING_ADMISSION_LOOP="0" if args.admissions == "process" else "1",
                      WEB_NODES=str(2 + args.store_nodes), WORKER_PROCESSES="2")
    figures = {"host": host(), "args": vars(args)}
    try:
        cluster.start_infrastructure()
        cluster.start_nodes(2 + args.store_nodes)
        cluster.wait_consumer(cluster.start_consumer("coupons"))
        admissions = cluster.start_admissions() if args.admissions == "process" else None
        if admissions is not None:
            cluster.wait_admissions(admissions)
        app, game, users, event_id, room_id = setup(cluster, args)
        ports = [n.port for n in cluster.nodes[:2]]  # the line's nodes
        store_ports = [n.port for n in cluster.nodes[2:]] or ports
        paths = ["/", f"/games/{game.slug}"]
        log(f"{args.visitors} visitors, {args.coupons} coupons, room {room_id} at {args.rate}/min; "
            f"line nodes {ports}, store pages on {store_ports}")
        wait_for(lambda: all(asyncio.run(timed_get(p, f"/coupons/{event_id}"))[1] == 302
                             for p in ports + store_ports),
                 "both nodes hold the drop", timeout=15)
        base_lat, _ = asyncio.run(store_load(store_ports, paths, args.store_rps, 5))
        rss_start = node_rss(cluster)
        line_pids = [n.proc.pid for n in cluster.nodes[:2]]
        store_pids = [n.proc.pid for n in cluster.nodes[2:]]
        other_pids = [admissions.pid] if admissions is not None else []
        cpu_start = [cpu_seconds(line_pids), cpu_seconds(store_pids), cpu_seconds(other_pids)]
        redis = cluster.redis_raw()
        broadcasts = Broadcasts(redis, f"broadcast:waiting:{room_id}")
        broadcasts.start()

        specs = [{"n": n, "id": u.id, "cookie": u.cookie, "csrf": u.csrf,
                  "arrive": args.arrive_seconds * n / max(args.visitors, 1)} for n, u in enumerate(users)]
        plan = {"room": room_id, "event": event_id, "ports": ports, "t0": time.time() + 3,
                "deadline": args.deadline, "session_cookie": app.config["SESSION_COOKIE_NAME"]}
        rss_samples, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                rss_samples.append((time.time(), node_rss(cluster)))
                time.sleep(1)

        threading.Thread(target=sample, daemon=True).start()
        slices = [specs[i::args.client_procs] for i in range(args.client_procs)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.client_procs) as pool:
            pending = pool.starmap_async(run_slice, [(s, plan) for s in slices])
            load_lat, load_status = asyncio.run(store_load(store_ports, paths, args.store_rps,
                                                           max(plan["t0"] + args.arrive_seconds + 20 - time.time(), 5)))
            results = [r for part in pending.get(args.deadline + 60) for r in part]
        cpu_end = [cpu_seconds(line_pids), cpu_seconds(store_pids), cpu_seconds(other_pids)]
        time.sleep(3)  # streams closed: let the nodes settle
        rss_end = node_rss(cluster)
        stop.set()
        broadcasts.stop.set()
        figures.update(report(cluster, args, results, broadcasts.seen, base_lat, load_lat, load_status,
                              rss_start, rss_samples, rss_end, event_id, room_id, redis))
        figures["cpu_seconds"] = dict(zip(("line_nodes", "store_nodes", "admissions"),
                                          (round(b - a, 1) for a, b in zip(cpu_start, cpu_end))))
        if admissions is not None:
            figures["admissions_log"] = [line for line in admissions.output().splitlines() if "ticks in" in line]
        figures["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        cluster.stop()
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


def report(cluster, args, results, published, base_lat, load_lat, load_status, rss_start, rss_samples, rss_end,
           event_id, room_id, redis) -> dict:
    claimed = [r for r in results if r["outcome"] == "claimed"]
    last_coupon = max((r["claimed_at"] for r in claimed), default=None)
    wait_for(lambda: cluster.scalar("SELECT count(*) FROM coupons WHERE event_id = %s", event_id) >= len(claimed),
             "the consumer drained the claims", timeout=60)
    db_rows = cluster.sql("SELECT user_id FROM coupons WHERE event_id = %s", event_id)
    with_coupon = {r["user"] for r in claimed}
    numbered = [r for r in results if r["number"] is not None]
    holders = [r["number"] for r in numbered if r["user"] in with_coupon]
    left = [r["number"] for r in numbered if r["user"] not in with_coupon]
    # FIFO, from the server's own state: what was admitted is exactly the head of the line
    # (admitted count == "admitting up to N", and the first still waiting is N + 1), and no
    # visitor got a pass with a ticket beyond N.
    tag = f"wr:{{room:{room_id}}}"
    through, admitted_total = (int(float(v or 0)) for v in redis.hmget(f"{tag}:state", "through", "admitted"))
    head = redis.zrange(f"{tag}:queue", 0, 0, withscores=True)
    passed = [r["number"] for r in numbered if 303 in r["statuses"]]
    fifo = {"admitted": admitted_total, "through": through, "first_still_waiting": int(head[0][1]) if head else None,
            "passes_beyond_through": sum(1 for n in passed if n > through),
            "claim_order_inversions": sum(1 for n in left if holders and n < max(holders))}
    fifo_ok = (admitted_total == through and (not head or int(head[0][1]) == through + 1)
               and fifo["passes_beyond_through"] == 0)
    delays, missed = [], 0
    for r in numbered:
        got = {data: at for at, data in r["got"]}
        for data, at_pub in published.items():
            if data in got:
                delays.append(got[data] - at_pub)
            elif r["opened_at"] and r["left_at"] and r["opened_at"] + 0.2 < at_pub < r["left_at"] - 2:
                missed += 1  # published while this waiter listened, never reached it
    sold_out = [r["sold_out_at"] - last_coupon for r in results if r["sold_out_at"] and last_coupon]
    never_told = sum(1 for r in results if r["outcome"] is None and r["sold_out_at"] is None)
    statuses = [s for r in results for s in r["statuses"]] + load_status
    errors = [r["error"] for r in results if r["error"]]
    # How often the room's news went out while the line moved: the admission loop's
    # punctuality as the waiters see it (a broadcast per tick when "through" moved).
    times = sorted(published.values())
    gaps = [b - a for a, b in zip(times, times[1:])]
    peak = max((v for _, v in rss_samples), default=rss_start)
    out = {
        "issued_redis": int(redis.scard(f"coupon:{{{event_id}}}:claimed")),
        "issued_db": len(db_rows), "distinct_users_db": len({u for (u,) in db_rows}),
        "claimed_answers": len(claimed), "outcomes": _count(r["outcome"] for r in results),
        "fifo": fifo, "waited_with_ticket": len(numbered),
        "broadcasts_published": len(published), "updates_missed": missed,
        "broadcast_gap_s": {"p50": round(percentile(gaps, 50), 2) if gaps else None,
                            "max": round(max(gaps), 2) if gaps else None},
        "busy_answers": sum(r.get("busy", 0) for r in results),
        "position_update_delay_s": latency_summary(delays, digits=3),
        "sold_out_after_last_coupon_s": latency_summary(sold_out, digits=3), "never_told": never_told,
        "store_baseline_ms": latency_summary(base_lat, 1000), "store_during_ms": latency_summary(load_lat, 1000),
        "store_p99_ratio": round(percentile(load_lat, 99) / percentile(base_lat, 99), 2) if base_lat and load_lat else None,
        "status_5xx": sum(1 for s in statuses if s >= 500), "statuses": _count(statuses),
        "errors": len(errors), "error_samples": errors[:5],
        "node_rss_mb": {"start": round(rss_start / 2**20), "peak": round(peak / 2**20), "end": round(rss_end / 2**20)},
    }
    out["checks"] = {
        "exactly_n_issued_one_per_user": out["issued_redis"] == args.coupons == out["issued_db"] == out["distinct_users_db"],
        "fifo": fifo_ok,
        "position_updates_p99_under_2s": (out["position_update_delay_s"]["p99"] or 99) < 2 and missed == 0,
        "sold_out_p99_under_2s": (out["sold_out_after_last_coupon_s"]["p99"] or 99) < 2 and never_told == 0,
        "store_p99_under_200ms": (out["store_during_ms"]["p99"] or 9999) < 200,
        "no_5xx": out["status_5xx"] == 0,
        "memory_flat": rss_end <= rss_start * 1.25 + 30 * 2**20,
    }
    return out


def _count(values) -> dict:
    found: dict = {}
    for v in values:
        found[str(v)] = found.get(str(v), 0) + 1
    return found


if __name__ == "__main__":
    main()
