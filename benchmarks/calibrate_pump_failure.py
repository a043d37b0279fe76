"""Calibrate `pump-failure` v2 (prediction cases): honest models, leak probes, prepare time.

For each data seed it prepares the competition exactly as an agent gets it (a fresh cache),
reads only the public files to build features and the private answers to score, and prints:

* `lr_raw`: logistic regression on the raw numeric columns (median imputation + scaling);
* `gbm_raw`: LightGBM on the same raw columns (missing values handled natively);
* `gbm_rolling`: LightGBM on the raw columns plus causal per-pump rolling features
  (deviation from the pump's own 168-h mean, spreads, slopes, per-load ratios), computed on
  train per pump and on each case from its own 168 history hours;
* `lookahead`: v1's leak, the rule "the pump stops within the next 24 rows", applied to
  every public row of the same pump sorted by time (train, test and history together);
* `gbm_centred`: the same GBM with centred windows (t-12..t+12) added: in train they see
  12 future hours; on a case they can only see its history. Both leak probes must not beat
  `gbm_rolling`;
* prepare time of the fresh data seed, the time of a second (cached) call, and a reference
  measured in the same run: `generate(seed)`, v1's whole table (0.128 s on the idle dev
  machine). On a shared machine the target (< 5 s) is checked on the time itself or, when
  the machine is loaded, on the ratio to the reference times its idle time.

The bands of docs/pump-failure.md are checked at the end; exit status 1 if a seed leaves one.

    .venv/bin/python benchmarks/calibrate_pump_failure.py --seeds 0 1 2 3 4 5 6 7 8 9
    .venv/bin/python benchmarks/calibrate_pump_failure.py --prepare-only --seeds 10 11 12 13 14

`--smoke` (what CI runs, seconds): `--seeds 0 --train-pumps 3` (the models learn from the
first three pumps' training rows; every case is scored); same code path and table. At that
size the bands are printed but not promised: the exit status ignores them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

BANDS: dict[str, tuple[float, float]] = {
    "lr_raw": (0.70, 0.80),
    "gbm_rolling": (0.85, 0.97),
}
CHANNELS = [
    "vibration_mm_s",
    "bearing_temp_c",
    "discharge_pressure_bar",
    "flow_m3_h",
    "motor_current_a",
]
SENSORS = [*CHANNELS, "suction_pressure_bar"]
RAW = [*SENSORS, "load_pct", "ambient_temp_c", "humidity_pct", "hours_since_maintenance"]
TARGET = "failure_24h"
HISTORY_H = 168
PREPARE_TARGET_S = 5.0
REFERENCE_IDLE_S = 0.128
"""`generate(0)` on the idle dev machine (docs/pump-failure.md): scales a loaded run's time."""


def _series(df: pd.DataFrame) -> dict[str, pd.Series]:
    """The channels, the load and four per-load ratios, offline hours blanked."""
    running = df["load_pct"] > 0
    series = {col: df[col].where(running) for col in [*CHANNELS, "load_pct"]}
    for col in ("vibration_mm_s", "discharge_pressure_bar", "flow_m3_h", "motor_current_a"):
        series[f"{col}_per_load"] = (df[col] / df["load_pct"]).where(running)
    return series


def _grid_features(grid: pd.DataFrame, col: str, centred: bool) -> dict[str, pd.DataFrame]:
    """Rolling features of one wide (time x series) frame; causal unless `centred`."""
    mean6 = grid.rolling(6, min_periods=2).mean()
    mean168 = grid.rolling(HISTORY_H, min_periods=24).mean()
    std168 = grid.rolling(HISTORY_H, min_periods=24).std()
    feats = {
        f"{col}_dev168": grid - mean168,
        f"{col}_z168": (mean6 - mean168) / std168,
        f"{col}_dev6": mean6 - mean168,
        f"{col}_std12": grid.rolling(12, min_periods=4).std() / std168,
        f"{col}_slope12": mean6 - mean6.shift(12),
        f"{col}_slope24": mean6 - mean6.shift(24),
    }
    if centred:  # the look-ahead probe: a window centred on the hour
        mid = grid.rolling(25, min_periods=1, center=True).mean()
        feats[f"{col}_centred25"] = mid - mean168
        feats[f"{col}_centred_max"] = grid.rolling(25, min_periods=1, center=True).max()
        feats[f"{col}_centred_min"] = grid.rolling(25, min_periods=1, center=True).min()
    return feats


def rolling_features(
    df: pd.DataFrame, key: str, order: str, *, centred: bool = False
) -> pd.DataFrame:
    """Per-`key` rolling features of every row of `df`, rows ordered within a key by `order`.

    Train: key `pump_id`, order `timestamp`. History: key `id` (the case), order the row's
    position in its case. Computed on wide frames (much faster than groupby-rolling).
    """
    out: dict[str, np.ndarray] = {}
    index = pd.MultiIndex.from_arrays([df[order], df[key]])
    for col, values in _series(df).items():
        wide = pd.DataFrame({"v": values.to_numpy(), "t": df[order], "k": df[key]})
        grid = wide.pivot(index="t", columns="k", values="v")
        for name, frame in _grid_features(grid, col, centred).items():
            out[name] = frame.stack(future_stack=True).reindex(index).to_numpy()
    return pd.DataFrame(out, index=df.index)


def case_features(history: pd.DataFrame, *, centred: bool = False) -> pd.DataFrame:
    """Features of each case at its last history row (the case hour), indexed by case id."""
    history = history.assign(_pos=history.groupby("id").cumcount())
    feats = rolling_features(history, "id", "_pos", centred=centred)
    last = history["_pos"] == history.groupby("id")["_pos"].transform("max")
    return feats[last].set_index(history.loc[last, "id"])


def fit_lr(train: pd.DataFrame, test: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """Logistic regression with median imputation and standard scaling."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000)
    )
    model.fit(train[cols], train[TARGET])
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
    model.fit(train[cols], train[TARGET])
    return np.asarray(model.predict_proba(test[cols]))[:, 1]


def lookahead_scores(public: Path) -> pd.Series:
    """v1's leak rule on every public row: does the pump stop within its next 24 rows?

    All public rows of a pump (train, every case's history) are put in one time order, as a
    cheater who ignores the case boundaries would; the score of a case is the rule at the
    case's own row. Ties in time keep file order (train first, then cases by id).
    """
    cols = ["id", "timestamp", "pump_id", "load_pct"]
    train = pd.read_csv(public / "train.csv", usecols=cols).assign(_case=-1)
    hist = pd.read_csv(public / "history.csv", usecols=cols)
    hist["_last"] = hist.groupby("id").cumcount(ascending=False) == 0
    both = pd.concat([train.assign(_last=False), hist], ignore_index=True)
    both = both.sort_values(["pump_id", "timestamp"], kind="stable").reset_index(drop=True)
    stop = (both["load_pct"] == 0).astype(float)
    ahead = stop.groupby(both["pump_id"]).transform(
        lambda s: s[::-1].rolling(24, min_periods=1).max()[::-1].shift(-1)
    )
    cases = both[both["_last"]]
    return pd.Series(ahead[cases.index].fillna(0.0).to_numpy(), index=cases["id"].to_numpy())


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def calibrate(
    seed: int, cache: Path, *, prepare_only: bool = False, train_pumps: int | None = None
) -> dict[str, float]:
    """Prepare one data seed, then score the models and the leak probes on its cases
    (trained on the first `train_pumps` pumps' rows only, when given)."""
    from sklearn.metrics import roc_auc_score

    from mledojo.competition import get_competition
    from mledojo.data.prepare import prepare

    comp = get_competition("pump-failure")
    if comp.spec.version != 2:
        raise SystemExit(f"expected pump-failure v2, got v{comp.spec.version}")
    generator = comp.path(comp.spec.source.file)  # type: ignore[union-attr]
    from mledojo._files import import_file

    gen = import_file(generator, "calibrate_generate")
    reference = float(np.median([timed(lambda: gen.generate(seed)) for _ in range(3)]))
    fresh = timed(lambda: prepare(comp, data_seed=seed, cache_dir=cache))
    data = prepare(comp, data_seed=seed, cache_dir=cache)
    cached = timed(lambda: prepare(comp, data_seed=seed, cache_dir=cache))
    if prepare_only:
        return {"seed": seed, "prepare_s": fresh, "cached_s": cached, "reference_s": reference}
    started = time.perf_counter()
    train = pd.read_csv(data.public_dir / "train.csv")
    if train_pumps is not None:
        train = train[train["pump_id"].isin(sorted(train["pump_id"].unique())[:train_pumps])]
    history = pd.read_csv(data.public_dir / "history.csv")
    test = pd.read_csv(data.public_dir / "test.csv").set_index("id")
    answers = pd.read_csv(data.answers_path).set_index("id")[TARGET]
    train_feats = rolling_features(train, "pump_id", "timestamp", centred=True)
    train = pd.concat([train, train_feats], axis=1)
    cases = pd.concat([test, case_features(history, centred=True)], axis=1)
    y = answers.reindex(cases.index).to_numpy()
    centred = [c for c in train_feats.columns if "centred" in c]
    rolling = [c for c in train_feats.columns if c not in centred]
    runs: dict[str, tuple[Callable[..., np.ndarray], list[str]]] = {
        "lr_raw": (fit_lr, RAW),
        "gbm_raw": (fit_gbm, RAW),
        "gbm_rolling": (fit_gbm, RAW + rolling),
        "gbm_centred": (fit_gbm, RAW + rolling + centred),
    }
    row: dict[str, float] = {
        "seed": seed,
        "cases": len(cases),
        "pos_train": float(train[TARGET].mean()),
        "pos_cases": float(y.mean()),
    }
    for name, (fit, cols) in runs.items():
        row[name] = float(roc_auc_score(y, fit(train, cases, cols)))
    row["lookahead"] = float(roc_auc_score(y, lookahead_scores(data.public_dir)[cases.index]))
    row.update(prepare_s=fresh, cached_s=cached, reference_s=reference)
    row["models_s"] = time.perf_counter() - started
    return row


def check(rows: list[dict[str, float]]) -> list[str]:
    """Every violated promise, as readable lines (empty when all seeds are in band)."""
    problems = []
    for r in rows:
        s = f"seed {r['seed']:.0f}"
        for name, (lo, hi) in BANDS.items():
            if not lo <= r[name] <= hi:
                problems.append(f"{s}: {name}={r[name]:.4f} not in [{lo}, {hi}]")
        if not r["gbm_raw"] > r["lr_raw"]:
            problems.append(f"{s}: gbm_raw does not beat lr_raw")
        for probe in ("lookahead", "gbm_centred"):
            if r[probe] > r["gbm_rolling"]:
                problems.append(f"{s}: the leak probe {probe} beats gbm_rolling")
        idle = r["prepare_s"] / r["reference_s"] * REFERENCE_IDLE_S
        if min(r["prepare_s"], idle) >= PREPARE_TARGET_S:
            problems.append(
                f"{s}: prepare took {r['prepare_s']:.2f} s, about {idle:.2f} s on an idle "
                f"machine (target < {PREPARE_TARGET_S} s)"
            )
    return problems


def time_prepare(seeds: list[int]) -> int:
    """Print the preparation time of fresh data seeds; exit 1 if one misses the target."""
    print("| seed | prepare s | cached s | reference s | ratio | idle estimate s |")
    print("|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            r = calibrate(seed, Path(tmp), prepare_only=True)
            ratio = r["prepare_s"] / r["reference_s"]
            worst = max(worst, min(r["prepare_s"], ratio * REFERENCE_IDLE_S))
            print(
                f"| {seed} | {r['prepare_s']:.2f} | {r['cached_s']:.2f} | {r['reference_s']:.3f} "
                f"| {ratio:.1f} | {ratio * REFERENCE_IDLE_S:.2f} |",
                flush=True,
            )
    print(f"idle estimate = ratio x {REFERENCE_IDLE_S} s (generate(0) on the idle dev machine)")
    return 0 if worst < PREPARE_TARGET_S else 1


def main(argv: list[str] | None = None) -> int:
    """Print a Markdown table per seed; exit 1 if a seed leaves a band."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument(
        "--prepare-only", action="store_true", help="time the preparation only (no models)"
    )
    parser.add_argument("--train-pumps", type=int, default=None, help="train on N pumps only")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.train_pumps = [0], 3
    if args.prepare_only:
        return time_prepare(args.seeds)
    print(
        "| seed | cases | positives train | positives cases | LR raw | GBM raw | GBM rolling "
        "| look-ahead | GBM centred | prepare s | cached s | reference s | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            r = calibrate(seed, Path(tmp), train_pumps=args.train_pumps)
            rows.append(r)
            print(
                f"| {seed} | {r['cases']:.0f} | {r['pos_train']:.2%} | {r['pos_cases']:.1%} "
                f"| {r['lr_raw']:.3f} | {r['gbm_raw']:.3f} | {r['gbm_rolling']:.3f} "
                f"| {r['lookahead']:.3f} | {r['gbm_centred']:.3f} | {r['prepare_s']:.2f} "
                f"| {r['cached_s']:.2f} | {r['reference_s']:.2f} "
                f"| {r['prepare_s'] / r['reference_s']:.1f} |",
                flush=True,
            )
    problems = check(rows)
    bands = ", ".join(f"{k} in [{lo}, {hi}]" for k, (lo, hi) in BANDS.items())
    print(f"\nbands: {bands}, gbm_raw > lr_raw, leak probes <= gbm_rolling, prepare < 5 s")
    print(f"idle-machine prepare estimate = ratio x {REFERENCE_IDLE_S} s")
    print("\n".join(problems) if problems else "all seeds within the bands")
    if args.smoke:
        print("(smoke sizes: the bands are not promised here)")
        return 0
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
