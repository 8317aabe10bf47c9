"""Monthly VIP grading: set-based SQL, safe to rerun or to run twice at once.

`grade_month(2026, 10)` grades October's spending (Asia/Seoul month boundaries):
  1. INSERT … SELECT one vip_grades row per active user from the month's PAID orders
     (refunded orders are REFUNDED, so totals are net of refunds), ON CONFLICT
     (user, month) DO NOTHING;
  2. INSERT … SELECT the month's bonus points, ON CONFLICT (idempotency key) DO NOTHING;
  3. add exactly the rows this run inserted to the cached balances (one INSERT … ON
     CONFLICT DO UPDATE);
  4. notifications (one INSERT … SELECT) and, after commit, emails for grade-ups.
Rows carry the run's `batch` id, so a rerun finds nothing new to add or announce.
"""
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..jobs import enqueue_after_commit
from ..timeutil import SEOUL, utcnow
from .models import GRADES, VipGrade
from .points import add_months


@dataclass
class GradeSummary:
    month: str
    inserted: int = 0
    per_grade: dict = field(default_factory=dict)
    points_awarded: int = 0
    upgraded: int = 0


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in Asia/Seoul, as UTC instants."""
    start = datetime(year, month, 1, tzinfo=SEOUL)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=SEOUL)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def previous_month(now: datetime | None = None) -> tuple[int, int]:
    local = (now or utcnow()).astimezone(SEOUL)
    return (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)


def grade_case() -> str:
    t = current_app.config["VIP_THRESHOLDS"]
    return (f"CASE WHEN COALESCE(t.total, 0) >= {int(t['VIP'])} THEN 'VIP' "
            f"WHEN COALESCE(t.total, 0) >= {int(t['GOLD'])} THEN 'GOLD' "
            f"WHEN COALESCE(t.total, 0) >= {int(t['SILVER'])} THEN 'SILVER' ELSE 'BRONZE' END")


def _bonus_case(column: str) -> str:
    bonus = current_app.config["VIP_MONTHLY_BONUS"]
    whens = " ".join(f"WHEN '{g}' THEN {int(bonus.get(g, 0))}" for g in GRADES)
    return f"CASE {column} {whens} ELSE 0 END"


def _rank_case(column: str) -> str:
    return "CASE " + column + " " + " ".join(f"WHEN '{g}' THEN {i}" for i, g in enumerate(GRADES)) + " ELSE -1 END"


def grade_month(year: int, month: int, progress=None) -> GradeSummary:
    """Grade one month. Returns what this run changed (a rerun returns zeros)."""
    label = f"{year:04d}-{month:02d}"
    start, end = month_bounds(year, month)
    batch = str(uuid.uuid4())
    now = utcnow()
    expires = add_months(now, current_app.config["POINTS_VALID_MONTHS"])
    step = progress or (lambda name: None)
    summary = GradeSummary(month=label)
    params = {"m": label, "s": start, "e": end, "b": batch, "now": now, "exp": expires,
              "prefix": f"grade:{label}:"}
    from ..timeutil import UTCDateTime

    typed = [bindparam("s", type_=UTCDateTime()), bindparam("e", type_=UTCDateTime()),
             bindparam("now", type_=UTCDateTime()), bindparam("exp", type_=UTCDateTime())]

    step("grades")
    if db.session.get_bind().dialect.name == "postgresql":
        # One aggregate over the month's orders and one hash join with every user: with
        # the default 4 MB they spill to temp files. This transaction only.
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
    # The month's first run inserts without ON CONFLICT: no speculative insertion (an
    # arbiter-index probe and a confirm record per row, ~15% of the statement). If a run
    # racing this one got there first, the unique violation rolls back the savepoint and
    # the ON CONFLICT form below does what it always did.
    # A rerun (the daily cron's case: the month is graded, only new sign-ups are missing)
    # skips the users already graded with an anti-join instead of a conflicting insert per
    # user. Only on a graded month: with no rows yet there is nothing to skip, and a
    # planner that sees an (almost) empty vip_grades may rescan it for every user while
    # this very statement fills it.
    graded = db.session.scalar(select(VipGrade.id).where(VipGrade.month == label).limit(1)) is not None
    skip_graded = ("AND NOT EXISTS (SELECT 1 FROM vip_grades v WHERE v.user_id = u.id "
                   "AND v.month = CAST(:m AS VARCHAR(7)))") if graded else ""
    insert_grades = f"""
        INSERT INTO vip_grades (user_id, month, grade, paid_total, batch, created_at)
        SELECT u.id, CAST(:m AS VARCHAR(7)), {grade_case()}, COALESCE(t.total, 0), :b, :now
        FROM users u
        LEFT JOIN (SELECT user_id, SUM(total) AS total FROM orders
                   WHERE status = 'PAID' AND paid_at >= :s AND paid_at < :e GROUP BY user_id) t
               ON t.user_id = u.id
        WHERE u.status = 'active' {skip_graded}"""
    on_conflict = " ON CONFLICT (user_id, month) DO NOTHING"
    inserted = None
    if not graded:
        try:
            with db.session.begin_nested():
                inserted = db.session.execute(text(insert_grades).bindparams(*typed[:3]), params).rowcount
        except IntegrityError:
            pass  # a concurrent run graded (some of) these users first
    if inserted is None:
        inserted = db.session.execute(text(insert_grades + on_conflict).bindparams(*typed[:3]), params).rowcount
    summary.inserted = inserted

    step("points")
    db.session.execute(text(f"""
        INSERT INTO point_entries (user_id, kind, amount, remaining, expires_at, idem_key, batch, note, created_at)
        SELECT g.user_id, 'earn_grade', {_bonus_case('g.grade')}, {_bonus_case('g.grade')}, :exp,
               CAST(:prefix AS VARCHAR(40)) || CAST(g.user_id AS VARCHAR(20)), CAST(:b AS VARCHAR(36)),
               'Monthly ' || g.grade || ' bonus', :now
        FROM vip_grades g
        WHERE g.month = :m AND g.batch = :b AND {_bonus_case('g.grade')} > 0
        ON CONFLICT (idem_key) DO NOTHING""").bindparams(typed[2], typed[3]), params)

    step("balances")
    # One upsert adds exactly this run's lines (creating missing balance rows with them).
    db.session.execute(text("""
        INSERT INTO point_balances (user_id, balance)
        SELECT pe.user_id, SUM(pe.amount) FROM point_entries pe WHERE pe.batch = :b GROUP BY pe.user_id
        ON CONFLICT (user_id) DO UPDATE SET balance = point_balances.balance + excluded.balance"""), params)

    step("summary")
    summary.per_grade = dict(db.session.execute(
        select(VipGrade.grade, func.count()).where(VipGrade.month == label).group_by(VipGrade.grade)).all())
    summary.points_awarded = db.session.scalar(text(
        "SELECT COALESCE(SUM(amount), 0) FROM point_entries WHERE batch = :b"), params)
    prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
    params["pm"] = f"{prev_year:04d}-{prev_month:02d}"
    # Grade-ups: this run's rows whose grade ranks above last month's (BRONZE if none).
    # Last month's grade is one unique-index lookup per row, whatever the planner thinks
    # of the (not yet analyzed) rows just inserted; the INSERT's row count is the count.
    previous = "COALESCE((SELECT p.grade FROM vip_grades p WHERE p.user_id = g.user_id AND p.month = :pm), 'BRONZE')"
    summary.upgraded = db.session.execute(text(f"""
        INSERT INTO notifications (user_id, kind, message, link, created_at)
        SELECT g.user_id, 'vip_grade', 'You reached ' || g.grade || ' for {label}! Enjoy your bonus points.',
               '/account', :now
        FROM vip_grades g
        WHERE g.month = :m AND g.batch = :b AND {_rank_case('g.grade')} > {_rank_case(previous)}""")
        .bindparams(typed[2]), params).rowcount
    if summary.upgraded:
        enqueue_after_commit(email_upgrades, label, batch)
    db.session.commit()
    step("done")
    return summary


def email_upgrades(label: str, batch: str) -> int:
    """Job: one email per user whose grade went up in this grading run."""
    from ..accounts.models import User
    from ..mail import queue_email

    rows = db.session.execute(select(VipGrade.user_id, VipGrade.grade).where(
        VipGrade.month == label, VipGrade.batch == batch, VipGrade.grade != "BRONZE")).all()
    sent = 0
    for user_id, grade in rows:
        user = db.session.get(User, user_id)
        if user is None or user.status != "active":
            continue
        bonus = current_app.config["VIP_MONTHLY_BONUS"].get(grade, 0)
        queue_email(user.email, "vip_upgrade", nickname=user.nickname, grade=grade, month=label, bonus=bonus)
        sent += 1
    db.session.commit()
    return sent


def current_grade(user_id: int) -> str:
    grade = db.session.scalar(select(VipGrade.grade).where(VipGrade.user_id == user_id)
                              .order_by(VipGrade.month.desc()).limit(1))
    return grade or "BRONZE"


def month_progress(user_id: int, now: datetime | None = None) -> dict:
    """This month's paid total and what it takes to reach the next grade."""
    from ..orders.models import Order

    local = (now or utcnow()).astimezone(SEOUL)
    start, end = month_bounds(local.year, local.month)
    total = db.session.scalar(select(func.coalesce(func.sum(Order.total), 0)).where(
        Order.user_id == user_id, Order.status == "PAID", Order.paid_at >= start, Order.paid_at < end))
    thresholds = current_app.config["VIP_THRESHOLDS"]
    ladder = [("SILVER", thresholds["SILVER"]), ("GOLD", thresholds["GOLD"]), ("VIP", thresholds["VIP"])]
    nxt = next(((g, t) for g, t in ladder if total < t), None)
    return {"total": total, "next_grade": nxt[0] if nxt else None, "next_at": nxt[1] if nxt else None,
            "missing": (nxt[1] - total) if nxt else 0,
            "percent": min(100, int(100 * total / nxt[1])) if nxt else 100}


def grade_previous_month_if_due() -> GradeSummary:
    """Cron (daily 00:05 KST): grade last month. Idempotent, so it also catches up a
    missed 1st and does nothing on the other days."""
    year, month = previous_month()
    return grade_month(year, month)
