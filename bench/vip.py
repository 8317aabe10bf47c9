#!/usr/bin/env python
"""VIP grading benchmark: set-based grade_month() against a chunked ORM loop, in ONE run.

    .venv/bin/python bench/vip.py --users 1000000 --orders 5000000      # the target size
    .venv/bin/python bench/vip.py --users 3000 --orders 15000 --sample 1000 --chunk 500   # a quick look

Needs PostgreSQL. Redis (a private redis-server unless --redis-url) is only touched
after grade_month's commit: the enqueue of the grade emails' relay job (queue
`bench-vip`, deleted at the end) and the publishes of the grade notifications on their
users' channels. Bounded (--time-limit); drops the database --pg-db unless --keep. Data
shape and current figures: docs/benchmarks.md, "VIP grading".

Setup: the real migrations, then a seeded server-side bulk load (INSERT … SELECT
generate_series, setseed) with the secondary indexes and constraints of users and orders
dropped and re-created around it; VACUUM ANALYZE; --index adds the recommended covering
index. Measured in one process (wall clock and the PostgreSQL backend's CPU from /proc):
  0. grade_month(2026, 9) first, as production would have a month earlier;
  A. grade_month(2026, 10), per step; checked in SQL (one row per active user,
     grade-ups == notifications, every balance == its ledger sum);
  B. grade_month(2026, 10) again: must change nothing;
  C. the baseline, the seed's loop (pages of --chunk users, ONE ORM query per user, one
     entity per user, commit per page) on the first --sample active users, extrapolated
     linearly to every active user; its grades must equal grade_month's;
  D. --loop-variant chunk-sum: one GROUP BY per page instead, for reference.
--grades-module FILE times another grade_month in the same setup.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (Timeout, drop_database, fresh_database, host, log, migrate,  # noqa: E402
                           redis_or_private, table, time_limit)

QUEUE = "bench-vip"
YEAR, MONTH = 2026, 10


def clock() -> float:
    return time.perf_counter()


# Game prices in KRW; an order is one or (15%) two of them.
PRICES = "ARRAY[5500, 11000, 16500, 22000, 29800, 33000, 44000, 55000, 64800, 79800]"

USERS_SQL = """
INSERT INTO users (id, email, nickname, password_hash, role, status, email_verified_at, session_token,
                   created_at, withdrawn_at, purged_at)
SELECT i, 'vip' || i || '@bench.invalid', 'vip' || i, NULL, 'customer', status,
       timestamptz '2025-01-01 00:00+00' + (i %% 600) * interval '1 day',
       md5(i::text), timestamptz '2025-01-01 00:00+00' + (i %% 600) * interval '1 day',
       CASE WHEN status <> 'active' THEN timestamptz '2026-06-01 00:00+00' END,
       CASE WHEN status = 'purged' THEN timestamptz '2026-07-01 00:00+00' END
FROM (SELECT i, CASE WHEN r < 0.97 THEN 'active' WHEN r < 0.99 THEN 'withdrawn' ELSE 'purged' END AS status
      FROM (SELECT i, random() AS r FROM generate_series(1, %(n)s) AS i) g0) g
"""

# One INSERT per slice of ids (progress + bounded transactions). Every random draw is a
# column of the innermost subquery (a subquery with volatile outputs is never flattened,
# so each draw is made once per row). The buyer is rank = floor(n * random()^2.5) (a
# power law: rank 0 buys most), mapped to a user id through a bijection (rank * p mod n,
# p coprime to n), so heavy buyers are spread over the whole id range and any id range
# is a fair sample.
ORDERS_SQL = """
INSERT INTO orders (id, public_id, user_id, status, subtotal, discount, total, discounts, gateway,
                    payment_key, failure_code, failure_message, created_at, updated_at, expires_at,
                    paid_at, refunded_at)
SELECT i, gen_random_uuid()::text, user_id, status, amount, 0, amount, NULL,
       CASE WHEN i %% 3 = 0 THEN 'toss' ELSE 'sandbox' END,
       CASE WHEN status IN ('PAID', 'REFUNDED') THEN 'bench_' || i END,
       CASE WHEN status = 'FAILED' THEN 'REJECT_CARD_PAYMENT' END,
       CASE WHEN status = 'FAILED' THEN 'Card declined' END,
       at - interval '3 minutes', COALESCE(refunded, at), at + interval '27 minutes',
       CASE WHEN status IN ('PAID', 'REFUNDED') THEN at END, refunded
FROM (
    SELECT i, user_id, amount, status, at,
           CASE WHEN status = 'REFUNDED' THEN at + r_refund * interval '10 days' END AS refunded
    FROM (
        SELECT i, (floor(%(n)s * power(r_user, 2.5))::bigint * %(p)s %% %(n)s + 1)::int AS user_id,
               (%(prices)s)[1 + floor(r_price * 10)::int] * CASE WHEN r_two < 0.15 THEN 2 ELSE 1 END AS amount,
               CASE WHEN r_status < 0.86 THEN 'PAID' WHEN r_status < 0.93 THEN 'REFUNDED'
                    WHEN r_status < 0.97 THEN 'FAILED' ELSE 'CANCELLED' END AS status,
               timestamptz '2026-07-01 00:00+09'
                   + r_at * (timestamptz '2026-12-01 00:00+09' - timestamptz '2026-07-01 00:00+09') AS at,
               r_refund
        FROM (SELECT i, random() AS r_user, random() AS r_price, random() AS r_two, random() AS r_status,
                     random() AS r_at, random() AS r_refund
              FROM generate_series(%(lo)s::int, %(hi)s::int) AS i) g0
    ) g1
) g2
"""

RECOMMENDED_INDEX = ("CREATE INDEX ix_orders_paid_month ON orders (paid_at, user_id) INCLUDE (total) "
                     "WHERE status = 'PAID'")


def backend_cpu(pid: int) -> float:
    """user + system CPU seconds of a local process (the PostgreSQL backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def coprime_step(n: int) -> int:
    import math

    p = 999_983  # a prime; fall back to the next coprime if n is a multiple of it
    while math.gcd(p, n) != 1:
        p += 2
    return p


class Bench:
    def __init__(self, args):
        self.args = args
        self.base = args.pg_url.replace("postgresql+psycopg://", "postgresql://").rstrip("/")
        self.db_url = args.pg_url.rstrip("/") + "/" + args.pg_db
        folder = Path(tempfile.mkdtemp(prefix="playcation-bench-vip-"))
        self.redis_url, self.redis_server = redis_or_private(args.redis_url, folder)
        self.app = None
        self.report = {"host": host(), "args": vars(args)}

    # ------------------------------------------------------------------ setup
    def env(self):
        env = dict(os.environ)
        env.update(APP_ENV="development", DATABASE_URL=self.db_url, REDIS_URL=self.redis_url,
                   RQ_QUEUE=QUEUE, PYTHONUNBUFFERED="1")
        return env

    def pg(self, dbname=None):
        import psycopg

        return psycopg.connect(f"{self.base}/{dbname or self.args.pg_db}", autocommit=True)

    def create_database(self):
        with self.pg("postgres") as conn:
            self.report["postgres"] = conn.execute("SELECT version()").fetchone()[0]
            settings = conn.execute("SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', "
                                    "'work_mem', 'max_parallel_workers_per_gather', 'jit')").fetchall()
            self.report["pg_settings"] = {n: f"{s}{' x ' + u if u else ''}" for n, s, u in settings}
        fresh_database(self.args.pg_url, self.args.pg_db)
        t = clock()
        migrate(self.env())
        log(f"database {self.args.pg_db} created and migrated in {clock() - t:.1f}s")

    @staticmethod
    def _drop_secondary(conn, table: str) -> list[str]:
        """Drop `table`'s unique/foreign-key constraints and plain indexes (not the primary
        key); return the statements that re-create them exactly."""
        cons = conn.execute("SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
                            "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC, conname",
                            (table,)).fetchall()
        idx = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                           "AND tablename = %s AND indexname NOT IN (SELECT conname FROM pg_constraint "
                           "WHERE conrelid = %s::regclass) ORDER BY indexname", (table, table)).fetchall()
        redo = [d for _, d in idx] + [f'ALTER TABLE {table} ADD CONSTRAINT "{n}" {d}' for n, d, _ in cons]
        for name, _, _ in cons:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in idx:
            conn.execute(f'DROP INDEX "{name}"')
        return redo

    def load(self):
        a = self.args
        with self.pg() as conn:
            conn.execute("SET maintenance_work_mem = '512MB'")
            t = clock()
            redo_users = self._drop_secondary(conn, "users")
            redo_orders = self._drop_secondary(conn, "orders")
            conn.execute("SELECT setseed(0.42)")
            conn.execute(USERS_SQL, {"n": a.users})
            log(f"users: {a.users:,} rows in {clock() - t:.1f}s")
            p = coprime_step(a.users)
            slice_ = 1_000_000
            for lo in range(1, a.orders + 1, slice_):
                hi = min(a.orders, lo + slice_ - 1)
                conn.execute(ORDERS_SQL.replace("%(prices)s", PRICES),
                             {"lo": lo, "hi": hi, "n": a.users, "p": p})
                log(f"orders: {hi:,} / {a.orders:,} rows ({clock() - t:.0f}s)")
            t2 = clock()
            for stmt in redo_users + redo_orders:
                conn.execute(stmt)
            for name in ("users", "orders"):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
            log(f"indexes and constraints re-created in {clock() - t2:.1f}s ({len(redo_users + redo_orders)})")
            t3 = clock()
            conn.execute("VACUUM ANALYZE")
            log(f"VACUUM ANALYZE in {clock() - t3:.1f}s")
            self.report["load_seconds"] = round(clock() - t, 1)
            shape = conn.execute("""
                SELECT count(*) FILTER (WHERE status = 'PAID'), count(*) FILTER (WHERE status = 'REFUNDED'),
                       count(*) FILTER (WHERE status = 'FAILED'), count(*) FILTER (WHERE status = 'CANCELLED'),
                       count(*) FILTER (WHERE paid_at >= %(s)s AND paid_at < %(e)s),
                       count(*) FILTER (WHERE status = 'PAID' AND paid_at >= %(s)s AND paid_at < %(e)s),
                       count(DISTINCT user_id) FILTER (WHERE status = 'PAID' AND paid_at >= %(s)s AND paid_at < %(e)s),
                       min(paid_at), max(paid_at),
                       pg_size_pretty(pg_total_relation_size('orders')), pg_size_pretty(pg_relation_size('orders'))
                FROM orders""", self._bounds()).fetchone()
            users = conn.execute("SELECT count(*) FILTER (WHERE status = 'active'), count(*) FROM users").fetchone()
            self.report["data"] = {
                "users": users[1], "active_users": users[0],
                "orders": {"PAID": shape[0], "REFUNDED": shape[1], "FAILED": shape[2], "CANCELLED": shape[3]},
                "orders_paid_or_refunded_in_month": shape[4], "paid_orders_in_month": shape[5],
                "buyers_in_month": shape[6], "paid_at_range": [str(shape[7]), str(shape[8])],
                "orders_size_total": shape[9], "orders_heap_size": shape[10],
            }
            log(f"data: {json.dumps(self.report['data'])}")
            if a.index:
                t4 = clock()
                conn.execute(RECOMMENDED_INDEX)
                conn.execute("VACUUM ANALYZE orders")
                self.report["index"] = {"sql": RECOMMENDED_INDEX, "build_seconds": round(clock() - t4, 1),
                                        "size": conn.execute("SELECT pg_size_pretty(pg_relation_size("
                                                             "'ix_orders_paid_month'))").fetchone()[0]}
                log(f"recommended index built in {clock() - t4:.1f}s: {RECOMMENDED_INDEX}")
            conn.execute("CHECKPOINT")

    def _bounds(self):
        from datetime import datetime, timedelta, timezone

        kst = timezone(timedelta(hours=9))
        return {"s": datetime(YEAR, MONTH, 1, tzinfo=kst),
                "e": datetime(YEAR + (MONTH == 12), MONTH % 12 + 1, 1, tzinfo=kst)}

    def make_app(self):
        # Config reads the environment when shop.config is imported: set it first.
        os.environ.update({k: v for k, v in self.env().items() if k in ("APP_ENV", "DATABASE_URL", "REDIS_URL",
                                                                          "RQ_QUEUE")})
        from shop import create_app

        # One pooled connection, so the backend whose CPU is read is the one doing the work.
        self.app = create_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 1, "max_overflow": 2})
        assert self.app.config["SQLALCHEMY_DATABASE_URI"] == self.db_url
        assert self.app.config["ENV_NAME"] == "development"
        if self.args.grades_module:
            import importlib.util

            spec = importlib.util.spec_from_file_location("shop.loyalty._bench_grades", self.args.grades_module)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            self.grade_month = module.grade_month
        else:
            from shop.loyalty.grades import grade_month

            self.grade_month = grade_month

    # ------------------------------------------------------------------ runs
    def grade(self, name: str, month: int = MONTH) -> dict:
        from shop.extensions import db

        grade_month = self.grade_month
        with self.app.app_context():
            pid = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            steps, cpu_steps, last = {}, {}, [None, clock(), backend_cpu(pid)]

            def progress(step):
                now, cpu = clock(), backend_cpu(pid)
                if last[0] is not None:
                    steps[last[0]] = round(now - last[1], 2)
                    cpu_steps[last[0]] = round(cpu - last[2], 2)
                last[:] = [step, now, cpu]

            c0, load0 = backend_cpu(pid), os.getloadavg()[0]
            t = clock()
            summary = grade_month(YEAR, month, progress=progress)
            seconds = clock() - t
            cpu = backend_cpu(pid) - c0
            db.session.remove()
        result = {"month": summary.month, "seconds": round(seconds, 2), "backend_cpu_seconds": round(cpu, 2),
                  "load_avg_1m": [round(load0, 1), round(os.getloadavg()[0], 1)],
                  "steps": steps, "steps_backend_cpu": cpu_steps, "inserted": summary.inserted,
                  "per_grade": summary.per_grade, "points_awarded": summary.points_awarded,
                  "upgraded": summary.upgraded}
        log(f"{name}: {seconds:.2f}s (backend CPU {cpu:.1f}s)  {json.dumps(result)}")
        return result

    def checks(self) -> dict:
        """Independent SQL checks of October's grading (run after A)."""
        label, prev = f"{YEAR:04d}-{MONTH:02d}", f"{YEAR:04d}-{MONTH - 1:02d}"
        rank = "CASE {} WHEN 'BRONZE' THEN 0 WHEN 'SILVER' THEN 1 WHEN 'GOLD' THEN 2 WHEN 'VIP' THEN 3 END"
        with self.pg() as conn:
            upgrades = conn.execute(f"""SELECT count(*) FROM vip_grades g LEFT JOIN vip_grades p
                ON p.user_id = g.user_id AND p.month = %s WHERE g.month = %s
                AND {rank.format('g.grade')} > {rank.format("COALESCE(p.grade, 'BRONZE')")}""", (prev, label)).fetchone()[0]
            notes = conn.execute("SELECT count(*) FROM notifications WHERE kind = 'vip_grade' "
                                 "AND message LIKE %s", (f"% for {label}!%",)).fetchone()[0]
            bad_balances = conn.execute("""SELECT count(*) FROM point_balances b
                FULL JOIN (SELECT user_id, SUM(amount) AS s FROM point_entries GROUP BY user_id) e USING (user_id)
                WHERE COALESCE(b.balance, 0) <> COALESCE(e.s, 0)""").fetchone()[0]
            missing = conn.execute("""SELECT count(*) FROM users u WHERE u.status = 'active' AND NOT EXISTS
                (SELECT 1 FROM vip_grades g WHERE g.user_id = u.id AND g.month = %s)""", (label,)).fetchone()[0]
        return {"upgrades_by_sql": upgrades, "notifications_for_month": notes,
                "balances_not_equal_to_ledger": bad_balances, "active_users_without_grade": missing}

    def table_counts(self) -> dict:
        with self.pg() as conn:
            row = conn.execute("""SELECT (SELECT count(*) FROM vip_grades), (SELECT count(*) FROM point_entries),
                                         (SELECT coalesce(sum(amount), 0) FROM point_entries),
                                         (SELECT count(*) FROM point_balances),
                                         (SELECT coalesce(sum(balance), 0) FROM point_balances),
                                         (SELECT count(*) FROM notifications)""").fetchone()
        return dict(zip(("vip_grades", "point_entries", "points_sum", "point_balances", "balances_sum",
                         "notifications"), row))

    def sample_ids(self) -> tuple[int, int]:
        """(first, last) id of the first --sample active users: the pages the loop reads."""
        with self.pg() as conn:
            last = conn.execute("SELECT max(id) FROM (SELECT id FROM users WHERE status = 'active' "
                                "ORDER BY id LIMIT %s) s", (self.args.sample,)).fetchone()[0]
        return 1, last

    def take_set_based(self, last_id: int) -> dict:
        with self.pg() as conn:
            rows = conn.execute("SELECT user_id, grade, paid_total FROM vip_grades WHERE month = %s "
                                "AND user_id <= %s", (f"{YEAR:04d}-{MONTH:02d}", last_id)).fetchall()
            conn.execute("DELETE FROM vip_grades WHERE month = %s AND user_id <= %s",
                         (f"{YEAR:04d}-{MONTH:02d}", last_id))
            conn.execute("VACUUM ANALYZE vip_grades")
        return {u: (g, p) for u, g, p in rows}

    def loop(self, variant: str, last_id: int) -> dict:
        """The seed's chunked ORM loop, on the users with id <= last_id."""
        from sqlalchemy import func, select

        from shop.accounts.models import User
        from shop.extensions import db
        from shop.loyalty.grades import month_bounds
        from shop.loyalty.models import VipGrade
        from shop.orders.models import Order

        label = f"{YEAR:04d}-{MONTH:02d}"
        start, end = month_bounds(YEAR, MONTH)
        batch = f"loop-{uuid.uuid4()}"[:36]
        chunk = self.args.chunk
        users_done = pages = 0
        with self.app.app_context():
            thresholds = self.app.config["VIP_THRESHOLDS"]
            pid = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            db.session.commit()
            c0, p0 = backend_cpu(pid), time.process_time()

            def grade_of(total):
                if total >= thresholds["VIP"]:
                    return "VIP"
                if total >= thresholds["GOLD"]:
                    return "GOLD"
                if total >= thresholds["SILVER"]:
                    return "SILVER"
                return "BRONZE"

            t = clock()
            after = 0
            while True:
                users = db.session.scalars(select(User).where(User.status == "active", User.id > after,
                                                              User.id <= last_id)
                                           .order_by(User.id).limit(chunk)).all()
                if not users:
                    break
                if variant == "per-user":
                    totals = {u.id: db.session.scalar(
                        select(func.coalesce(func.sum(Order.total), 0)).where(
                            Order.user_id == u.id, Order.status == "PAID",
                            Order.paid_at >= start, Order.paid_at < end)) for u in users}
                else:  # chunk-sum: one GROUP BY per page
                    totals = dict(db.session.execute(
                        select(Order.user_id, func.sum(Order.total)).where(
                            Order.user_id.in_([u.id for u in users]), Order.status == "PAID",
                            Order.paid_at >= start, Order.paid_at < end).group_by(Order.user_id)).all())
                for u in users:
                    total = int(totals.get(u.id) or 0)
                    db.session.add(VipGrade(user_id=u.id, month=label, grade=grade_of(total), paid_total=total,
                                            batch=batch))
                db.session.commit()
                users_done += len(users)
                pages += 1
                after = users[-1].id
            seconds = clock() - t
            cpu = {"backend": round(backend_cpu(pid) - c0, 2), "python": round(time.process_time() - p0, 2)}
            rows = db.session.execute(select(VipGrade.user_id, VipGrade.grade, VipGrade.paid_total)
                                      .where(VipGrade.batch == batch)).all()
            db.session.remove()
        with self.pg() as conn:  # leave the table as grade_month left it (minus the sample)
            conn.execute("DELETE FROM vip_grades WHERE batch = %s", (batch,))
            conn.execute("VACUUM ANALYZE vip_grades")
        return {"variant": variant, "seconds": round(seconds, 2), "cpu_seconds": cpu, "users": users_done, "pages": pages,
                "grades": {u: (g, p) for u, g, p in rows}}

    def run(self):
        a = self.args
        self.create_database()
        self.load()
        self.make_app()
        active = self.report["data"]["active_users"]

        self.report["previous_month"] = self.grade("grade_month(2026, 9) (setup: first-ever grading)", month=MONTH - 1)
        with self.pg() as conn:
            conn.execute("VACUUM ANALYZE vip_grades, point_entries, point_balances, notifications")
            conn.execute("CHECKPOINT")
        self.report["first"] = self.grade("grade_month(2026, 10)")
        self.report["after_first"] = self.table_counts()
        self.report["checks"] = self.checks()
        log(f"checks: {self.report['checks']}")
        self.report["rerun"] = self.grade("grade_month(2026, 10) again (rerun)")
        self.report["after_rerun"] = self.table_counts()
        rerun_ok = (self.report["rerun"]["inserted"] == 0 and self.report["rerun"]["points_awarded"] == 0
                    and self.report["rerun"]["upgraded"] == 0 and self.report["after_first"] == self.report["after_rerun"])
        ch = self.report["checks"]
        first_ok = (self.report["first"]["inserted"] == active
                    and sum(self.report["first"]["per_grade"].values()) == active
                    and ch["active_users_without_grade"] == 0 and ch["balances_not_equal_to_ledger"] == 0
                    and ch["upgrades_by_sql"] == self.report["first"]["upgraded"] == ch["notifications_for_month"])
        self.report["rerun_changed_nothing"] = rerun_ok
        self.report["october_consistent"] = first_ok
        log(f"rerun changed nothing: {rerun_ok}; October consistent (one row per active user, grade-ups, "
            f"balances == ledger): {first_ok}")

        _, last_id = self.sample_ids()
        truth = self.take_set_based(last_id)
        self.report["loops"] = []
        for variant in a.loop_variant:
            res = self.loop(variant, last_id)
            grades = res.pop("grades")
            mismatches = [u for u in set(truth) | set(grades) if truth.get(u) != grades.get(u)]
            res["matches_grade_month"] = not mismatches and len(grades) == len(truth)
            res["mismatches"] = len(mismatches)
            res["per_user_ms"] = round(1000 * res["seconds"] / max(res["users"], 1), 3)
            res["extrapolated_seconds"] = round(res["seconds"] * active / max(res["users"], 1), 1)
            res["ratio_vs_grade_month"] = round(res["extrapolated_seconds"] / self.report["first"]["seconds"], 1)
            self.report["loops"].append(res)
            log(f"ORM loop ({variant}) on a SAMPLE of {res['users']:,} active users: {res['seconds']:.1f}s "
                f"({res['per_user_ms']} ms/user), extrapolated linearly to {active:,} active users: "
                f"{res['extrapolated_seconds']:,.0f}s; same grades as grade_month: {res['matches_grade_month']} "
                f"({res['mismatches']} mismatches)")
            if mismatches:
                log(f"  first mismatches: {[(u, truth.get(u), grades.get(u)) for u in sorted(mismatches)[:10]]}")
        self.report["sample_grade_counts"] = {g: sum(1 for v in truth.values() if v[0] == g)
                                              for g in ("BRONZE", "SILVER", "GOLD", "VIP")}

    def summary(self):
        r = self.report
        first, rerun = r["first"], r["rerun"]
        base = r["loops"][0] if r["loops"] else None
        print("\n================ VIP grading benchmark ================")
        print(f"host: {r['host']['cpus']} CPUs, load avg at start {r['host']['load_avg_at_start']}; {r['postgres']}")
        print(f"postgres settings: {r['pg_settings']}")
        d = r["data"]
        print(f"data: {d['users']:,} users ({d['active_users']:,} active), orders {d['orders']}, "
              f"{d['paid_orders_in_month']:,} PAID in {YEAR}-{MONTH:02d} (KST) by {d['buyers_in_month']:,} buyers; "
              f"orders table {d['orders_size_total']} with indexes")
        if self.args.grades_module:
            print(f"grade_month from: {self.args.grades_module}")
        if "index" in r:
            print(f"extra index: {r['index']['sql']} ({r['index']['size']}, built in {r['index']['build_seconds']}s)")
        else:
            print("extra index: none (schema exactly as migrated)")
        sep = r["previous_month"]
        rows = [["grade_month(2026, 9), first ever (setup)", sep["seconds"], sep["backend_cpu_seconds"],
                 sep["inserted"], sep["points_awarded"], sep["upgraded"], ""],
                ["grade_month(2026, 10)", first["seconds"], first["backend_cpu_seconds"], first["inserted"],
                 first["points_awarded"], first["upgraded"], f"consistent: {r['october_consistent']}"],
                ["grade_month(2026, 10) rerun", rerun["seconds"], rerun["backend_cpu_seconds"], rerun["inserted"],
                 rerun["points_awarded"], rerun["upgraded"], f"changed nothing: {r['rerun_changed_nothing']}"]]
        for lp in r["loops"]:
            rows.append([f"ORM loop [{lp['variant']}], {lp['users']:,} users", lp["seconds"],
                         lp["cpu_seconds"]["backend"], lp["users"], None, None,
                         f"extrapolated {lp['extrapolated_seconds']:,.0f} s = {lp['ratio_vs_grade_month']}x; "
                         f"same grades: {lp['matches_grade_month']}"])
        print(table(["run", "wall s", "backend CPU s", "rows", "points", "upgraded", ""], rows,
                    ["", ".2f", ".1f", ",", ",", ",", ""]))
        print(f"October: grades {first['per_grade']}; steps wall {first['steps']}, "
              f"backend CPU {first['steps_backend_cpu']}; load avg {first['load_avg_1m']}")
        print(f"checks: {r['checks']}; tables after: {r['after_first']}")
        print(f"the loop's time is EXTRAPOLATED linearly from its sample to {d['active_users']:,} active users "
              f"(pages of {self.args.chunk})")
        print(f"sample grade mix: {r['sample_grade_counts']}")
        ok60 = first["seconds"] <= 60
        ok20 = base is not None and base["ratio_vs_grade_month"] >= 20
        print(f"targets: grade_month <= 60 s: {'PASS' if ok60 else 'FAIL'} ({first['seconds']:.1f}s); "
              f">= 20x the loop: {'PASS' if ok20 else 'FAIL'} ({base['ratio_vs_grade_month'] if base else '-'}x)")
        r["targets"] = {"le_60s": ok60, "ge_20x": ok20}

    def cleanup(self):
        try:
            if self.app is not None:
                from rq import Queue

                from shop.extensions import db
                from shop.infra.redisconn import redis_clients

                with self.app.app_context():
                    Queue(QUEUE, connection=redis_clients.raw).delete(delete_jobs=True)
                    db.engine.dispose()
        except Exception as exc:  # noqa: BLE001
            log(f"could not clean the {QUEUE} queue: {exc!r}")
        if self.redis_server is not None:
            self.redis_server.stop()
        if self.args.keep:
            log(f"kept: database {self.args.pg_db}")
            return
        try:
            drop_database(self.args.pg_url, self.args.pg_db)
            log(f"database {self.args.pg_db} dropped")
        except Exception as exc:  # noqa: BLE001
            log(f"could not drop {self.args.pg_db}: {exc!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--orders", type=int, default=5_000_000)
    p.add_argument("--sample", type=int, default=20_000, help="active users the ORM loop grades (then extrapolated)")
    p.add_argument("--chunk", type=int, default=1_000, help="ORM loop page size")
    p.add_argument("--loop-variant", action="append", choices=("per-user", "chunk-sum"),
                   help="per-user (the seed's shape, default, the baseline) and/or chunk-sum (reference)")
    p.add_argument("--index", action="store_true", help="also create the recommended covering index")
    p.add_argument("--grades-module", help="time grade_month from this file instead of shop/loyalty/grades.py, "
                   "e.g. an older revision for a before/after: git show REV:shop/loyalty/grades.py > /tmp/g.py")
    p.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    p.add_argument("--pg-db", default="playcation_bench_vip", help="the database to create, use and drop")
    p.add_argument("--redis-url", help="only grade_month's after-commit enqueue (queue bench-vip, deleted at the end) "
                                       "and publishes touch it; default: a private redis-server")
    p.add_argument("--time-limit", type=int, default=2400, help="hard stop (seconds) for the whole run")
    p.add_argument("--json", help="write the full results here")
    p.add_argument("--keep", action="store_true", help="keep the database")
    args = p.parse_args()
    args.loop_variant = args.loop_variant or ["per-user"]
    if args.sample < args.chunk:
        raise SystemExit("--sample must be at least --chunk")

    bench = Bench(args)

    t = clock()
    failed = False
    try:
        with time_limit(args.time_limit):
            bench.run()
            bench.summary()
    except (Timeout, KeyboardInterrupt) as exc:
        failed = True
        log(f"stopped: {exc!r}")
    finally:
        bench.report["total_seconds"] = round(clock() - t, 1)
        if args.json:
            Path(args.json).write_text(json.dumps(bench.report, indent=1, default=str))
            log(f"results written to {args.json}")
        bench.cleanup()
        log(f"done in {clock() - t:.0f}s")
    if failed:
        return 1
    r = bench.report
    ok = r.get("rerun_changed_nothing") and r.get("october_consistent") and all(
        lp["matches_grade_month"] for lp in r["loops"])
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
