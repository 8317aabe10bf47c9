"""The bench harness: one percentile definition for every figure, and bench/ standing
on its own (tests may import bench; bench never imports tests)."""
import ast
from pathlib import Path

import pytest

from bench.harness import latency_summary, percentile, table

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("values, p, expected", [
    (range(1, 11), 50, 5),        # rank ceil(0.5 * 10) = 5
    (range(1, 11), 90, 9),
    (range(1, 11), 91, 10),       # ceil(9.1) = 10: never interpolated
    (range(1, 101), 99, 99),
    (range(1, 101), 100, 100),
    ([7, 1, 5], 0, 1),            # rank clamped to 1: the minimum
    ([7, 1, 5], 50, 5),           # input order does not matter
    ([3.5], 99, 3.5),
])
def test_percentile_is_nearest_rank(values, p, expected):
    assert percentile(list(values), p) == expected


def test_percentile_of_nothing_is_none():
    assert percentile([], 50) is None
    assert latency_summary([]) == {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}


def test_latency_summary_scales_and_rounds():
    seconds = [i / 1000 for i in range(1, 201)]  # 1..200 ms
    assert latency_summary(seconds, scale=1000, digits=1) == {"n": 200, "p50": 100.0, "p95": 190.0,
                                                              "p99": 198.0, "max": 200.0}


def test_table_aligns_columns_and_prints_missing_as_dash():
    out = table(["kind", "p99 ms"], [["browse", 12.345], ["claim", None]], ["", ".1f"]).splitlines()
    assert out == ["kind    p99 ms", "browse    12.3", "claim        -"]


def test_bench_does_not_import_tests():
    offenders = []
    for path in BENCH.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offenders += [f"{path.relative_to(BENCH)}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert offenders == []
