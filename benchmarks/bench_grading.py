"""Benchmark: grade a 1,000,000-row binary-probability submission (ROC AUC) from a CSV file.

Targets: under 1 s including validation, and under 2x plain pandas in the same run.
Printed per case, each the best of `--repeat` runs after one warm-up run (ours and the
reference alternate, so a busy machine slows both alike):

- our time: `mledojo.grading.scoring` (read + validate + align + score the private part);
- reference: plain `pd.read_csv` of the same file + `sklearn.metrics.roc_auc_score` on all
  rows, no checks at all; the ratio ours / reference is the cost of validation (< 2);
- the ratio ours / 1 s target (must stay below 1).

Cases: text ids (as answers loaded with `dtype=str` are) and integer ids, each with the rows
shuffled (the agent wrote them in another order) and in the answers' order.

Run: `python benchmarks/bench_grading.py [--rows N] [--repeat K]`; exits 1 if a case misses
the target. `--smoke` (what CI runs, seconds): `--rows 100000 --repeat 1`; same code path,
same lines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mledojo.competition import CompetitionSpec
from mledojo.grading import grade

TARGET_S = 1.0
TARGET_RATIO = 2.0


def make_spec() -> CompetitionSpec:
    return CompetitionSpec.model_validate(
        {
            "id": "bench-binary",
            "version": 1,
            "title": "Benchmark",
            "task": "binary",
            "metric": {"name": "roc_auc", "higher_is_better": True},
            "target": "target",
            "id_column": "id",
            "source": {"kind": "generator"},
        }
    )


def make_data(n: int, text_ids: bool, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answers (id, target, usage) and a submission (id, target probability)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    id_col: np.ndarray = np.char.add("id_", ids.astype(str)).astype(object) if text_ids else ids
    y = rng.integers(0, 2, n)
    usage = np.where(rng.random(n) < 0.3, "public", "private")
    answers = pd.DataFrame({"id": id_col, "target": y, "usage": usage})
    prob = np.clip(0.35 * y + 0.65 * rng.random(n), 0.0, 1.0)
    return answers, pd.DataFrame({"id": id_col, "target": prob})


def best_of_both(
    ours: Callable[[], object], reference: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Best times of `ours` and `reference`, run alternately after one warm-up each."""
    ours()
    reference()  # warm-up: imports, caches
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((ours, times[0]), (reference, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return min(times[0]), min(times[1])


def run_case(
    n: int, text_ids: bool, shuffled: bool, repeat: int, folder: Path
) -> tuple[float, float]:
    spec = make_spec()
    answers, sub = make_data(n, text_ids)
    if shuffled:
        sub = sub.sample(frac=1.0, random_state=1)
    path = folder / f"submission_{int(text_ids)}_{int(shuffled)}.csv"
    sub.to_csv(path, index=False)

    def ours() -> float:
        return grade(spec, path, answers, part="private")

    def reference() -> float:
        df = pd.read_csv(path)
        return float(roc_auc_score(answers["target"].to_numpy(), df["target"].to_numpy()))

    t_ours, t_ref = best_of_both(ours, reference, repeat)
    label = f"{'text' if text_ids else 'int '} ids, {'shuffled' if shuffled else 'in order'}"
    size_mb = path.stat().st_size / 1e6
    print(
        f"{label:24s} {n:>9,} rows {size_mb:6.1f} MB | ours {t_ours:6.3f} s | "
        f"reference {t_ref:6.3f} s | ours/reference {t_ours / t_ref:5.2f}x | "
        f"ours/target {t_ours / TARGET_S:5.2f}"
    )
    return t_ours, t_ours / t_ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeat = 100_000, 1
    print(
        f"target: grade {args.rows:,} rows in < {TARGET_S} s and < {TARGET_RATIO}x plain "
        f"pandas (best of {args.repeat})"
    )
    worst, worst_ratio = 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for text_ids in (True, False):
            for shuffled in (True, False):
                t, ratio = run_case(args.rows, text_ids, shuffled, args.repeat, Path(tmp))
                worst, worst_ratio = max(worst, t), max(worst_ratio, ratio)
    ok = worst < TARGET_S and worst_ratio < TARGET_RATIO
    print(
        f"worst case {worst:.3f} s, {worst_ratio:.2f}x pandas: {'PASS' if ok else 'FAIL'} "
        f"(targets {TARGET_S} s, {TARGET_RATIO}x)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
