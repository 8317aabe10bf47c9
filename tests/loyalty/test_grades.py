"""VIP grading with hand-computed expectations."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from shop.extensions import db
from shop.loyalty.grades import grade_month, month_bounds, month_progress
from shop.loyalty.models import PointEntry, VipGrade
from shop.loyalty.points import balance, ledger_balance
from shop.notifications.models import Notification
from shop.orders.models import Order
from shop.timeutil import SEOUL

KST = SEOUL


def paid(user_id, total, at, status="PAID"):
    db.session.add(Order(user_id=user_id, status=status, subtotal=total, total=total, gateway="sandbox",
                         expires_at=at, paid_at=at, created_at=at))


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def _grade(user_id, month="2026-10"):
    return db.session.scalar(select(VipGrade.grade).where(VipGrade.user_id == user_id, VipGrade.month == month))


def test_month_bounds_are_in_seoul():
    start, end = month_bounds(2026, 10)
    assert start == datetime(2026, 9, 30, 15, 0, tzinfo=timezone.utc)
    assert end == datetime(2026, 10, 31, 15, 0, tzinfo=timezone.utc)
    assert month_bounds(2026, 12)[1] == datetime(2026, 12, 31, 15, 0, tzinfo=timezone.utc)


def test_thresholds_bonus_and_kst_month_edges(ctx, make_user):
    a, b, c, d, e, f = (make_user() for _ in range(6))
    oct_mid = datetime(2026, 10, 15, 12, tzinfo=KST)
    paid(a.id, 49_999, oct_mid)                                     # BRONZE: one won short
    paid(b.id, 50_000, oct_mid)                                     # SILVER exactly
    paid(c.id, 100_000, oct_mid); paid(c.id, 49_999, oct_mid)       # 149,999 → SILVER
    paid(d.id, 300_000, oct_mid)                                    # VIP
    paid(e.id, 60_000, datetime(2026, 10, 1, 0, 0, tzinfo=KST))      # first instant of October KST counts
    paid(e.id, 90_000, datetime(2026, 11, 1, 0, 0, tzinfo=KST))      # first instant of November: not October
    paid(f.id, 40_000, datetime(2026, 9, 30, 23, 59, 59, tzinfo=KST))  # September KST (October in UTC!)
    paid(f.id, 200_000, oct_mid, status="REFUNDED")                 # refunded: net of refunds
    db.session.commit()
    summary = grade_month(2026, 10)
    assert [_grade(u.id) for u in (a, b, c, d, e, f)] == ["BRONZE", "SILVER", "SILVER", "VIP", "SILVER", "BRONZE"]
    assert summary.points_awarded == 1_000 * 3 + 10_000
    assert balance(d.id) == 10_000 == ledger_balance(d.id)
    assert balance(a.id) == 0
    assert summary.upgraded == 4
    notes = db.session.scalars(select(Notification.user_id).where(Notification.kind == "vip_grade")).all()
    assert sorted(notes) == sorted([b.id, c.id, d.id, e.id])


def test_rerun_changes_nothing(ctx, make_user):
    u = make_user()
    paid(u.id, 160_000, datetime(2026, 10, 3, tzinfo=KST))
    db.session.commit()
    first = grade_month(2026, 10)
    second = grade_month(2026, 10)
    assert first.inserted >= 1 and second.inserted == 0 and second.points_awarded == 0 and second.upgraded == 0
    assert balance(u.id) == 3_000 == ledger_balance(u.id)
    assert db.session.scalar(select(PointEntry.id).where(PointEntry.user_id == u.id).offset(1)) is None


def test_only_upgrades_are_announced(ctx, make_user):
    u = make_user()
    paid(u.id, 400_000, datetime(2026, 9, 3, tzinfo=KST))
    paid(u.id, 60_000, datetime(2026, 10, 3, tzinfo=KST))
    db.session.commit()
    grade_month(2026, 9)
    october = grade_month(2026, 10)
    assert _grade(u.id, "2026-09") == "VIP" and _grade(u.id) == "SILVER"
    assert october.upgraded == 0


def test_progress_to_next_grade(ctx, make_user):
    u = make_user()
    now = datetime(2026, 11, 20, 12, tzinfo=KST)
    paid(u.id, 30_000, datetime(2026, 11, 2, tzinfo=KST))
    db.session.commit()
    progress = month_progress(u.id, now)
    assert progress == {"total": 30_000, "next_grade": "SILVER", "next_at": 50_000, "missing": 20_000, "percent": 60}


def test_cli_grades_with_summary(app, make_user):
    u = make_user()
    with app.app_context():
        paid(u.id, 150_000, datetime(2026, 10, 9, tzinfo=KST))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["vip", "grade", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "GOLD" in result.output and "Points awarded: 3,000 P" in result.output
    again = app.test_cli_runner().invoke(args=["vip", "grade", "--month", "2026-10"])
    assert "nothing changed" in again.output
    bad = app.test_cli_runner().invoke(args=["vip", "grade", "--month", "2026-13"])
    assert bad.exit_code != 0
