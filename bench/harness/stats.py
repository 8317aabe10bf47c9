"""Figures and their printing, the same for every bench script: one percentile
definition, one latency summary, one table layout, one description of the machine."""
import math
import os
import sys
import time


def percentile(values, p: float):
    """Nearest-rank percentile, p in 0..100: the smallest value with at least p % of the
    values at or below it.

        rank = ceil(p / 100 * n), clamped to 1..n;   result = sorted(values)[rank - 1]

    So p50 of 1..10 is 5, p99 of 100 values is the 99th smallest, p100 is the maximum
    and p0 the minimum. No interpolation: every figure is a value that was measured.
    None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def latency_summary(values, scale: float = 1.0, digits: int = 2) -> dict:
    """n, p50, p95, p99 and max of `values` times `scale` (1000 for seconds -> ms)."""
    def at(p):
        v = percentile(values, p)
        return None if v is None else round(v * scale, digits)

    return {"n": len(values), "p50": at(50), "p95": at(95), "p99": at(99), "max": at(100)}


def fmt(value, spec: str = "") -> str:
    if value is None:
        return "-"
    if spec and isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def table(headers: list[str], rows: list[list], specs: list[str] | None = None) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned,
    each as wide as its widest cell; None prints as '-'; `specs` are format specs per
    column (e.g. ".1f")."""
    specs = specs or [""] * len(headers)
    cells = [[fmt(v, s) for v, s in zip(row, specs)] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    return "\n".join([line(headers)] + [line(r) for r in cells])


def host() -> dict:
    """The machine a figure was measured on (it is shared: the load average matters)."""
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
