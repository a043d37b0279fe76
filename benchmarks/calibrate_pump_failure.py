"""Calibrate the difficulty of the `pump-failure` generator: ROC AUC of three reference models.

For each seed it generates the table, splits it by time as the competition does (train = the
first 80 % of the hours, test = the rest, so train holds no future rows) and scores:

* `lr_raw`: logistic regression on the raw numeric columns (median imputation + scaling);
* `gbm_raw`: LightGBM on the same raw columns (missing values handled natively);
* `gbm_rolling`: LightGBM on the raw columns plus causal per-pump rolling features
  (deviation from the pump's own rolling mean, rolling spread, slopes, per-load ratios).

It also prints `lookahead`: the AUC of a one-line rule that cheats by reading later rows
of the test table ("the pump stops within the next 24 h"). It is not a model; it measures
how much a flat, time-ordered test file leaks the future (see docs/pump-failure.md).

The difficulty bands the generator promises (docs/pump-failure.md) are checked at the end;
the exit status is 1 if any seed falls outside them.

    .venv/bin/python benchmarks/calibrate_pump_failure.py --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

GENERATOR = Path(__file__).resolve().parents[1] / "competitions" / "pump-failure" / "generate.py"
TEST_FRACTION = 0.2
BANDS: dict[str, tuple[float, float]] = {
    "lr_raw": (0.70, 0.80),
    "gbm_rolling": (0.85, 0.97),
}
SENSORS = [
    "vibration_mm_s",
    "bearing_temp_c",
    "discharge_pressure_bar",
    "flow_m3_h",
    "motor_current_a",
    "suction_pressure_bar",
]
RAW = [*SENSORS, "load_pct", "ambient_temp_c", "humidity_pct", "hours_since_maintenance"]


def load_generator() -> ModuleType:
    """Import competitions/pump-failure/generate.py (its folder name is not importable)."""
    spec = importlib.util.spec_from_file_location("pump_failure_generate", GENERATOR)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def time_split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train = hours before the cut, test = the cut and after (same rule as the library)."""
    times = np.sort(df["timestamp"].unique())
    cut = times[int(len(times) * (1 - TEST_FRACTION))]
    is_test = (df["timestamp"] >= cut).to_numpy()
    return df.loc[~is_test], df.loc[is_test]


def rolling_features(df: pd.DataFrame) -> pd.DataFrame:
    """Causal per-pump features: each uses only the pump's current and earlier hours.

    Offline hours (load 0) are blanked first so idle readings do not pollute the windows.
    Computed on wide (hour x pump) frames, which is much faster than groupby-rolling.
    """
    running = df["load_pct"] > 0
    series = {col: df[col] for col in [*SENSORS[:5], "load_pct"]}
    for col in ("vibration_mm_s", "discharge_pressure_bar", "flow_m3_h", "motor_current_a"):
        series[f"{col}_per_load"] = df[col] / df["load_pct"]
    out: dict[str, pd.Series] = {}
    index = pd.MultiIndex.from_arrays([df["timestamp"], df["pump_id"]])
    for col, values in series.items():
        wide = pd.DataFrame({"v": values.where(running), "t": df["timestamp"], "p": df["pump_id"]})
        grid = wide.pivot(index="t", columns="p", values="v")
        mean6 = grid.rolling(6, min_periods=2).mean()
        mean168 = grid.rolling(168, min_periods=24).mean()
        std168 = grid.rolling(168, min_periods=24).std()
        feats = {
            f"{col}_dev168": grid - mean168,
            f"{col}_z168": (mean6 - mean168) / std168,
            f"{col}_dev6": mean6 - mean168,
            f"{col}_std12": grid.rolling(12, min_periods=4).std() / std168,
            f"{col}_slope12": mean6 - mean6.shift(12),
            f"{col}_slope24": mean6 - mean6.shift(24),
        }
        for name, frame in feats.items():
            long = frame.stack(future_stack=True)
            out[name] = long.reindex(index)
    feats_df = pd.DataFrame({k: v.to_numpy() for k, v in out.items()}, index=df.index)
    return pd.concat([df, feats_df], axis=1)


def fit_lr(train: pd.DataFrame, test: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """Logistic regression with median imputation and standard scaling."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000)
    )
    model.fit(train[cols], train["failure_24h"])
    return np.asarray(model.predict_proba(test[cols]))[:, 1]


def fit_gbm(train: pd.DataFrame, test: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """LightGBM with fixed, untuned settings (a reasonable first try, not a tuned model)."""
    import lightgbm as lgb

    model = lgb.LGBMClassifier(
        n_estimators=300,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=200,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=0,
        n_jobs=2,
        verbose=-1,
    )
    model.fit(train[cols], train["failure_24h"])
    return np.asarray(model.predict_proba(test[cols]))[:, 1]


def lookahead_auc(test: pd.DataFrame) -> float:
    """AUC of peeking ahead: score 1 when the pump goes offline within the next 24 rows."""
    from sklearn.metrics import roc_auc_score

    load = test.pivot(index="timestamp", columns="pump_id", values="load_pct").to_numpy()
    label = test.pivot(index="timestamp", columns="pump_id", values="failure_24h").to_numpy()
    hours = np.arange(len(load))[:, None]
    off = load == 0
    stops = off & ~np.vstack([np.zeros((1, off.shape[1]), dtype=bool), off[:-1]])
    never = len(load) + 10_000
    first_stop_from = np.minimum.accumulate(np.where(stops, hours, never)[::-1], axis=0)[::-1]
    next_stop = np.vstack([first_stop_from[1:], np.full((1, off.shape[1]), never)])
    return float(roc_auc_score(label.ravel(), (next_stop - hours <= 24).ravel()))


def calibrate(seed: int, gen: ModuleType) -> dict[str, float]:
    """Generate one seed and return the three AUCs plus some context numbers."""
    from sklearn.metrics import roc_auc_score

    t0 = time.perf_counter()
    df = rolling_features(gen.generate(seed))
    train, test = time_split(df)
    rolling = [c for c in df.columns if c not in gen.COLUMNS]
    runs: dict[str, tuple[Callable[..., np.ndarray], list[str]]] = {
        "lr_raw": (fit_lr, RAW),
        "gbm_raw": (fit_gbm, RAW),
        "gbm_rolling": (fit_gbm, RAW + rolling),
    }
    row: dict[str, float] = {
        "seed": seed,
        "pos_train": float(train["failure_24h"].mean()),
        "pos_test": float(test["failure_24h"].mean()),
    }
    for name, (fit, cols) in runs.items():
        row[name] = float(roc_auc_score(test["failure_24h"], fit(train, test, cols)))
    row["lookahead"] = lookahead_auc(test)
    row["seconds"] = time.perf_counter() - t0
    return row


def check(rows: list[dict[str, float]]) -> list[str]:
    """Every violated promise, as readable lines (empty when all seeds are in band)."""
    problems = []
    for r in rows:
        for name, (lo, hi) in BANDS.items():
            if not lo <= r[name] <= hi:
                problems.append(f"seed {r['seed']:.0f}: {name}={r[name]:.4f} not in [{lo}, {hi}]")
        if not r["gbm_raw"] > r["lr_raw"]:
            problems.append(f"seed {r['seed']:.0f}: gbm_raw does not beat lr_raw")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print a Markdown table of AUCs per seed; exit 1 if a seed leaves a band."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = parser.parse_args(argv)
    gen = load_generator()
    print(
        "| seed | positives train | positives test | LR raw | GBM raw | GBM rolling "
        "| look-ahead (leak) | s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for seed in args.seeds:
        r = calibrate(seed, gen)
        rows.append(r)
        print(
            f"| {seed} | {r['pos_train']:.2%} | {r['pos_test']:.2%} | {r['lr_raw']:.3f} "
            f"| {r['gbm_raw']:.3f} | {r['gbm_rolling']:.3f} | {r['lookahead']:.3f} "
            f"| {r['seconds']:.0f} |",
            flush=True,
        )
    problems = check(rows)
    bands = ", ".join(f"{k} in [{lo}, {hi}]" for k, (lo, hi) in BANDS.items())
    print(f"\nbands: {bands}, gbm_raw > lr_raw")
    print("\n".join(problems) if problems else "all seeds within the bands")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
