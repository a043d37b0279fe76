"""Measure the planned leak-free test layout for `pump-failure` ("prediction cases").

The competition's test file today holds every test hour, so later rows reveal failures
(docs/pump-failure.md, "Known issue"). The planned fix replaces it with prediction cases:
each case is one (pump, hour) from an independent replay of the year (`generate(seed,
world=w)`, w >= 1: the same pumps, other failures), asked while the pump runs, and comes
with only that pump's past. No case can see another case's future.

This script checks that the layout keeps the difficulty the competition promises. For each
seed it trains the three calibration models of `calibrate_pump_failure.py` on the usual
training file (the first 80 % of world 0) and scores them on cases drawn from the last
20 % of worlds 1..N (one per pump and world; a share of them drawn from the positive hours,
because AUC does not depend on the base rate but does need positives). The rolling
features use at most 168 past hours, so a case needs only its last 168 hours.

    .venv/bin/python benchmarks/explore_pump_failure_cases.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calibrate_pump_failure as cal  # noqa: E402  (a sibling script, not a package)


def draw_cases(
    gen: ModuleType, seed: int, worlds: int, positive_share: float
) -> tuple[pd.DataFrame, float]:
    """One case per pump and world, with causal rolling features; also the generation time."""
    rng = np.random.default_rng([seed, 7])
    picked, generating = [], 0.0
    for world in range(1, worlds + 1):
        started = time.perf_counter()
        table = gen.generate(seed, world=world)
        generating += time.perf_counter() - started
        _, test = cal.time_split(cal.rolling_features(table))
        running = test[test["load_pct"] > 0]
        for _, hours in running.groupby("pump_id"):
            positives = hours[hours["failure_24h"] == 1]
            pool = positives if len(positives) and rng.random() < positive_share else hours
            picked.append(pool.iloc[[int(rng.integers(len(pool)))]])
    return pd.concat(picked), generating


def measure(seed: int, worlds: int, positive_share: float) -> dict[str, float]:
    """AUCs of the calibration models on prediction cases for one seed."""
    from sklearn.metrics import roc_auc_score

    gen = cal.load_generator()
    started = time.perf_counter()
    table = cal.rolling_features(gen.generate(seed))
    train, test = cal.time_split(table)
    rolling = [c for c in table.columns if c not in gen.COLUMNS]
    cases, generating = draw_cases(gen, seed, worlds, positive_share)
    row: dict[str, float] = {
        "seed": seed,
        "cases": len(cases),
        "positives": float(cases["failure_24h"].mean()),
        "generate_s_per_world": generating / worlds,
    }
    for name, fit, cols in (
        ("lr_raw", cal.fit_lr, cal.RAW),
        ("gbm_raw", cal.fit_gbm, cal.RAW),
        ("gbm_rolling", cal.fit_gbm, cal.RAW + rolling),
    ):
        row[name] = float(roc_auc_score(cases["failure_24h"], fit(train, cases, cols)))
        row[f"{name}_flat"] = float(roc_auc_score(test["failure_24h"], fit(train, test, cols)))
    row["seconds"] = time.perf_counter() - started
    return row


def main(argv: list[str] | None = None) -> int:
    """Print a Markdown table: AUC on prediction cases next to AUC on today's flat test file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--worlds", type=int, default=50)
    parser.add_argument("--positive-share", type=float, default=0.25)
    args = parser.parse_args(argv)
    print(
        "| seed | cases | positives | LR raw (flat) | GBM raw (flat) | GBM rolling (flat) "
        "| generate s/world | s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for seed in args.seeds:
        r = measure(seed, args.worlds, args.positive_share)
        models = " | ".join(
            f"{r[m]:.3f} ({r[m + '_flat']:.3f})" for m in ("lr_raw", "gbm_raw", "gbm_rolling")
        )
        print(
            f"| {seed} | {r['cases']:.0f} | {r['positives']:.1%} | {models} "
            f"| {r['generate_s_per_world']:.3f} | {r['seconds']:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
