"""Monthly VIP grading: set-based SQL, safe to rerun or to run twice at once.

`grade_month(2026, 10)` grades October's spending (Asia/Seoul month boundaries):
  1. INSERT … SELECT one vip_grades row per active user from the month's PAID orders
     (refunded orders are REFUNDED, so totals are net of refunds), ON CONFLICT
     (user, month) DO NOTHING;
  2. INSERT … SELECT the month's bonus points, ON CONFLICT (idempotency key) DO NOTHING;
  3. add exactly the rows this run inserted to the cached balances (one INSERT … ON
     CONFLICT DO UPDATE);
  4. for each grade that changed against last month (BRONZE if none): a notification
     and an email row, one INSERT … SELECT each, in the same transaction: a
     congratulation for a grade-up, a kind word for a grade-down, nothing for an
     unchanged grade. After commit the notifications are published live and one
     relay job enqueues the emails' deliveries; if Redis is down then, the email
     sweeper sends them later (see shop/infra/mail.py).
Rows carry the run's `batch` id, so a rerun finds nothing new to add or announce.
"""
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import IntegrityError

from ..extensions import db
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
    downgraded: int = 0


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
    summary.upgraded, summary.downgraded = _announce_changes(params, typed[2])
    db.session.commit()
    step("done")
    return summary


def _changes_cte() -> str:
    """This run's rows whose grade differs from last month's (BRONZE if none), as CTE `c`.
    Last month's grade is one unique-index lookup per row, whatever the planner thinks
    of the (not yet analyzed) rows just inserted; MATERIALIZED so the statements below
    do not repeat it for each place they read it."""
    previous = "COALESCE((SELECT p.grade FROM vip_grades p WHERE p.user_id = g.user_id AND p.month = :pm), 'BRONZE')"
    return f"""WITH c AS MATERIALIZED (
        SELECT g.user_id, g.grade, {previous} AS previous FROM vip_grades g
        WHERE g.month = :m AND g.batch = :b AND {_rank_case('g.grade')} <> {_rank_case(previous)})"""


def _announce_changes(params: dict, now_param) -> tuple[int, int]:
    """Notifications and email rows for this run's changed grades, in the caller's
    transaction; published and relayed after commit. Returns (ups, downs). The rows hold
    kinds and parameters only: each is written in its reader's language when read or
    sent (shop/notifications/messages.py, templates/email/vip_*)."""
    from ..infra.mail import json_object_sql, queue_emails_from
    from ..notifications.services import publish_after_commit

    thresholds = current_app.config["VIP_THRESHOLDS"]
    up = f"{_rank_case('c.grade')} > {_rank_case('c.previous')}"
    regain_at = "CASE c.previous " + " ".join(f"WHEN '{g}' THEN {int(t)}" for g, t in thresholds.items()) + " ELSE 0 END"
    month = "CAST(:m AS VARCHAR(7))"
    note = json_object_sql({"grade": "c.grade", "previous": "c.previous", "month": month, "regain_at": regain_at})
    rows = db.session.execute(text(f"""{_changes_cte()}
        INSERT INTO notifications (user_id, kind, params, link, created_at)
        SELECT c.user_id, CASE WHEN {up} THEN 'vip_grade' ELSE 'vip_downgrade' END, {note}, '/account', :now
        FROM c
        RETURNING user_id, id, kind""").bindparams(now_param), params).all()
    publish_after_commit([(user_id, note_id) for user_id, note_id, _ in rows])
    ups = sum(1 for row in rows if row[2] == "vip_grade")

    context = json_object_sql({"nickname": "u.nickname", "grade": "c.grade", "previous": "c.previous",
                               "month": month, "bonus": _bonus_case("c.grade"), "regain_at": regain_at})
    queue_emails_from(f"""{_changes_cte()}
        SELECT u.email AS recipient, CASE WHEN {up} THEN 'vip_upgrade' ELSE 'vip_downgrade' END AS kind,
               {context} AS context, u.locale AS locale
        FROM c JOIN users u ON u.id = c.user_id
        WHERE u.status = 'active'""", params, ("vip_upgrade", "vip_downgrade"))
    return ups, len(rows) - ups


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


def grade_ladder() -> list[dict]:
    """Every grade, lowest first, with what earns it and what it gives, from the app
    config (VIP_THRESHOLDS, VIP_MONTHLY_BONUS, VIP_CASHBACK_PERCENT): for the page
    that explains grades."""
    config = current_app.config
    return [{"grade": g, "spend": config["VIP_THRESHOLDS"].get(g, 0),
             "bonus": int(config["VIP_MONTHLY_BONUS"].get(g, 0)),
             "cashback": config["VIP_CASHBACK_PERCENT"].get(g, 0)} for g in GRADES]


def grade_previous_month_if_due() -> GradeSummary:
    """Cron (daily 00:05 KST): grade last month. Idempotent, so it also catches up a
    missed 1st and does nothing on the other days."""
    year, month = previous_month()
    return grade_month(year, month)
