#!/usr/bin/env python
"""What the coupon Redis's durable setting costs, at the Redis itself: the real claim
script (shop/coupons/redis_state.py CLAIM, by EVALSHA) driven by redis-benchmark, on a
private redis-server switched between no AOF and `appendonly yes` + `appendfsync always`
with CONFIG SET, interleaved over --rounds so both see the same background load.

    .venv/bin/python bench/coupon_aof.py --rounds 3 --requests 100000 --clients 50

Every request is a new user (redis-benchmark's __rand_int__) claiming from an event with
10,000,000 coupons, so every request writes (INCR + PEXPIRE of two rate keys, DECR, SADD,
XADD): the worst case for the AOF. The HTTP-level cost is in bench/coupon_storm.py
(`--only aof`). Needs redis-server and redis-benchmark on PATH; the server, its folder
and its AOF are removed afterwards.
"""
import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from statistics import median

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shop.coupons.redis_state import CLAIM, CouponRedis, ip_key, keys, rate_key  # noqa: E402
from shop.timeutil import utcnow  # noqa: E402

EVENT = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_aof(r, always: bool):
    if always:
        r.config_set("appendfsync", "always")
        r.config_set("appendonly", "yes")
        while True:
            info = r.info("persistence")
            if info["aof_enabled"] and not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                return
            time.sleep(0.05)
    r.config_set("appendonly", "no")


def run(port, sha, requests, clients) -> float:
    k = keys(EVENT)
    cmd = ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", str(clients), "-r", "100000000", "-q",
           "EVALSHA", sha, "6", k["meta"], k["stock"], k["claimed"], k["stream"],
           rate_key(EVENT, "__rand_int__"), ip_key(EVENT, "__rand_int__"), "__rand_int__", "", "1000", "1000000"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(re.findall(r"([\d.]+) requests per second", out)[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--clients", type=int, default=50)
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="coupon-aof-"))
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder), "--maxmemory-policy", "noeviction"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        r = redis.Redis(port=port, decode_responses=True)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        now = utcnow()
        CouponRedis(r).sync(EVENT, now - timedelta(minutes=1), now + timedelta(hours=1), 10_000_000)
        sha = r.script_load(CLAIM)
        results = {False: [], True: []}
        for i in range(1, args.rounds + 1):
            for always in (False, True):
                set_aof(r, always)
                rps = run(port, sha, args.requests, args.clients)
                results[always].append(rps)
                print(f"round {i}: {'appendfsync always' if always else 'no AOF':<18} {rps:>9.0f} claims/s", flush=True)
        off, on = median(results[False]), median(results[True])
        print(f"median: no AOF {off:.0f} claims/s, appendfsync always {on:.0f} claims/s = {on / off:.2f}; "
              f"stream length {r.xlen(keys(EVENT)['stream'])}")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
