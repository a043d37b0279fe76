"""Benchmark: the cost of a bootstrap 95 % interval (`mledojo.grading.intervals`) per metric.

For each built-in metric, on `--rows` graded rows (default 1,000,000): the time of the
metric itself, the time of its bootstrap, and the ratio of the two. Label metrics draw
confusion cells (one multinomial, 1000 replicates) and cost next to nothing; the others
use `replicates_for(rows)` replicates (1000 up to 100,000 rows, fewer beyond, at least
200) and cost about (replicates x rows) row counts. Printed per metric, one line each:

    roc_auc   1,000,000 rows  200 replicates | metric 0.123 s | interval 4.56 s | 37x

Run: `python benchmarks/bench_intervals.py [--rows N] [--metric NAME]`. `--smoke` (what CI
runs, seconds): 20,000 rows, same code path, same lines.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from mledojo.grading.intervals import bootstrap
from mledojo.grading.metrics import METRICS, Array, Metric


def inputs(metric: Metric, n: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Metric inputs of `n` rows, shaped for the metric's first prediction kind."""
    kind = metric.kinds[0]
    if metric.binary:
        t = rng.integers(0, 2, n)
        return t, np.where(rng.random(n) < 0.8, t, 1 - t)
    if kind == "label":
        t = rng.integers(0, 5, n).astype(np.float64)
        return t, np.where(rng.random(n) < 0.7, t, rng.integers(0, 5, n)).astype(np.float64)
    if kind == "probability":
        t = rng.integers(0, 2, n)
        return t, np.clip(0.35 * t + 0.65 * rng.random(n), 0.0, 1.0)
    if kind == "class_probabilities":
        t = np.eye(3)[rng.integers(0, 3, n)]
        p = rng.random((n, 3)) + t
        return t, p / p.sum(axis=1, keepdims=True)
    t = rng.gamma(2.0, 2.0, n)
    return t, np.abs(t + rng.normal(0, 1, n))


def run(metric: Metric, n: int) -> None:
    y_true, y_pred = inputs(metric, n, np.random.default_rng(0))
    t0 = time.perf_counter()
    score = metric(y_true, y_pred)
    t_metric = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = bootstrap(metric, y_true, y_pred)
    t_interval = time.perf_counter() - t0
    shown = "none" if found is None else f"[{found.lo:.4f}, {found.hi:.4f}]"
    replicates = 0 if found is None else found.scores.size
    print(
        f"{metric.name:24s} {n:>9,} rows {replicates:5d} replicates | "
        f"metric {t_metric:6.3f} s | interval {t_interval:7.3f} s | "
        f"{t_interval / max(t_metric, 1e-9):6.1f}x | score {score:.4f} {shown}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--metric", action="append", help="only these metrics (repeatable)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.rows = 20_000
    names = args.metric or METRICS.names()
    for name in names:
        run(METRICS.get(name), args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
