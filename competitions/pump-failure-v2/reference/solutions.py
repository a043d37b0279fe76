"""The fixed pool of reference solutions that makes pump-failure v2's reference leaderboard.

Each entry reads only the public files (train.csv, test.csv, history.csv) and returns one
probability per case of test.csv. Quality varies on purpose, from uninformed to strong, so a
HumanRank against this pool says where an agent stands among simple, decent and good
approaches. The strongest entries are gradient boosting on the calibration's causal
features under four boosting settings, so a medal means beating the best of several
gradient-boosted models with causal features, not just the first try. Per-pump features
are computed per pump on train and within each case's own 168 history hours on the test
side, the same way, so no entry sees any case's future.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

TARGET = "failure_24h"
KEYS = ("id", "pump_id", "timestamp")
LONG = 168
"""The longest window: a case's whole history."""

Grids = Callable[[pd.DataFrame, str], dict[str, pd.DataFrame]]


@dataclass(frozen=True)
class Entry:
    """One reference solution: a name, a function and its parameters."""

    name: str
    fn: Callable[..., np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)

    def predict(self, train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame) -> np.ndarray:
        return self.fn(train, test, history, **self.params)


def _raw(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in (*KEYS, TARGET) if c in df.columns]).select_dtypes("number")


def _sensors(df: pd.DataFrame, exclude: tuple[str, ...]) -> list[str]:
    return [c for c in _raw(df).columns if c not in exclude]


def _wide(
    df: pd.DataFrame, key: str, order: str, columns: list[str], grids: Grids, fill: bool = True
) -> pd.DataFrame:
    """Features of every row: `grids(wide frame, column)` on (order x key) frames of each column
    (gaps forward-filled first when `fill`: the last reading, never a later one)."""
    index = pd.MultiIndex.from_arrays([df[order], df[key]])
    out: dict[str, np.ndarray] = {}
    for col in columns:
        grid = df.pivot(index=order, columns=key, values=col)
        if fill:
            grid = grid.ffill()
        for name, frame in grids(grid, col).items():
            out[name] = frame.stack(future_stack=True).reindex(index).to_numpy()
    return pd.DataFrame(out, index=df.index)


def _panel(
    train: pd.DataFrame,
    test: pd.DataFrame,
    history: pd.DataFrame,
    columns: list[str],
    grids: Grids,
    fill: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw columns plus per-pump features: on train per pump, on each case within its history."""
    x_train = pd.concat(
        [_raw(train), _wide(train, "pump_id", "timestamp", columns, grids, fill)], axis=1
    )
    hist = history.assign(_pos=history.groupby("id").cumcount())
    feats = _wide(hist, "id", "_pos", columns, grids, fill)
    last = hist["_pos"] == hist.groupby("id")["_pos"].transform("max")
    by_case = feats[last].set_index(hist.loc[last, "id"]).reindex(test["id"])
    x_test = pd.concat([_raw(test).reset_index(drop=True), by_case.reset_index(drop=True)], axis=1)
    return x_train, x_test[x_train.columns]


def _rolling_grids(windows: tuple[int, ...]) -> Grids:
    def grids(grid: pd.DataFrame, col: str) -> dict[str, pd.DataFrame]:
        out = {f"{col}_dev{w}": grid - grid.rolling(w, min_periods=1).mean() for w in windows}
        out[f"{col}_rel"] = grid - grid.rolling(LONG, min_periods=24).mean()
        out[f"{col}_slope"] = grid - grid.shift(max(windows))
        return out

    return grids


def _rich_grids(grid: pd.DataFrame, col: str) -> dict[str, pd.DataFrame]:
    """Z-scores against the pump's own week, multi-window means, spreads, slopes."""
    base = grid.rolling(LONG, min_periods=24).mean()
    spread = grid.rolling(LONG, min_periods=24).std()
    out: dict[str, pd.DataFrame] = {}
    for w in (6, 24, 72):
        out[f"{col}_z{w}"] = (grid.rolling(w, min_periods=1).mean() - base) / spread
        out[f"{col}_sd{w}"] = grid.rolling(w, min_periods=2).std()
    out[f"{col}_slope24"] = grid - grid.shift(24)
    out[f"{col}_slope72"] = grid - grid.shift(72)
    return out


CHANNELS = (
    "vibration_mm_s",
    "bearing_temp_c",
    "discharge_pressure_bar",
    "flow_m3_h",
    "motor_current_a",
)
PER_LOAD = ("vibration_mm_s", "discharge_pressure_bar", "flow_m3_h", "motor_current_a")


def _running(df: pd.DataFrame) -> pd.DataFrame:
    """The five channels and the load with offline hours blanked (`_on` columns), plus four
    per-load ratios (`_per_load`): the series of benchmarks/calibrate_pump_failure.py."""
    running = df["load_pct"] > 0
    extra = {f"{c}_on": df[c].where(running) for c in (*CHANNELS, "load_pct")}
    for c in PER_LOAD:
        extra[f"{c}_per_load"] = (df[c] / df["load_pct"]).where(running)
    return df.assign(**extra)


def _causal_grids(grid: pd.DataFrame, col: str) -> dict[str, pd.DataFrame]:
    """The calibration's causal features: the hour and its 6-h mean against the pump's own
    168-h mean and spread, the 12-h spread, and 12-h and 24-h slopes of the 6-h mean."""
    mean6 = grid.rolling(6, min_periods=2).mean()
    mean168 = grid.rolling(LONG, min_periods=24).mean()
    std168 = grid.rolling(LONG, min_periods=24).std()
    return {
        f"{col}_dev168": grid - mean168,
        f"{col}_z168": (mean6 - mean168) / std168,
        f"{col}_dev6": mean6 - mean168,
        f"{col}_std12": grid.rolling(12, min_periods=4).std() / std168,
        f"{col}_slope12": mean6 - mean6.shift(12),
        f"{col}_slope24": mean6 - mean6.shift(24),
    }


def constant(train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame) -> np.ndarray:
    return np.full(len(test), 0.5)


def random_guess(
    train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame, seed: int
) -> np.ndarray:
    return np.random.default_rng(seed).random(len(test))


def one_column(
    train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame, column: str
) -> np.ndarray:
    values = test[column].fillna(test[column].median()).rank(pct=True)
    return values.to_numpy(dtype=float)  # a percentile rank: a valid probability, same AUC


def logistic(
    train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame, c: float
) -> np.ndarray:
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(C=c, max_iter=500))
    model.fit(_raw(train), train[TARGET])
    return np.asarray(model.predict_proba(_raw(test)))[:, 1]


def forest(
    train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame, depth: int
) -> np.ndarray:
    model = make_pipeline(
        SimpleImputer(),
        RandomForestClassifier(n_estimators=100, max_depth=depth, n_jobs=2, random_state=0),
    )
    model.fit(_raw(train), train[TARGET])
    return np.asarray(model.predict_proba(_raw(test)))[:, 1]


def boosting(
    train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame, iters: int, lr: float
) -> np.ndarray:
    model = HistGradientBoostingClassifier(max_iter=iters, learning_rate=lr, random_state=0)
    model.fit(_raw(train), train[TARGET])
    return np.asarray(model.predict_proba(_raw(test)))[:, 1]


def boosting_rolling(
    train: pd.DataFrame,
    test: pd.DataFrame,
    history: pd.DataFrame,
    windows: tuple[int, ...],
    iters: int,
) -> np.ndarray:
    cols = _sensors(test, ("hours_since_maintenance",))
    x_train, x_test = _panel(train, test, history, cols, _rolling_grids(windows))
    model = HistGradientBoostingClassifier(max_iter=iters, learning_rate=0.05, random_state=0)
    model.fit(x_train, train[TARGET])
    return np.asarray(model.predict_proba(x_test))[:, 1]


def boosting_rich(
    train: pd.DataFrame, test: pd.DataFrame, history: pd.DataFrame, iters: int
) -> np.ndarray:
    cols = _sensors(test, ("hours_since_maintenance", "load_pct"))
    x_train, x_test = _panel(train, test, history, cols, _rich_grids)
    model = HistGradientBoostingClassifier(
        max_iter=iters,
        learning_rate=0.04,
        max_leaf_nodes=31,
        l2_regularization=1.0,
        random_state=0,
    )
    model.fit(x_train, train[TARGET])
    return np.asarray(model.predict_proba(x_test))[:, 1]


def boosting_causal(
    train: pd.DataFrame,
    test: pd.DataFrame,
    history: pd.DataFrame,
    iters: int,
    lr: float,
    leaves: int,
    min_leaf: int,
    l2: float,
) -> np.ndarray:
    """Gradient boosting on the raw columns plus the calibration's causal per-pump features
    (offline hours blanked, per-load ratios), with fixed boosting settings (no early stop)."""
    train, test, history = _running(train), _running(test), _running(history)
    cols = [f"{c}_on" for c in (*CHANNELS, "load_pct")] + [f"{c}_per_load" for c in PER_LOAD]
    x_train, x_test = _panel(train, test, history, cols, _causal_grids, fill=False)
    x_train, x_test = x_train.drop(columns=cols), x_test.drop(columns=cols)
    model = HistGradientBoostingClassifier(
        max_iter=iters,
        learning_rate=lr,
        max_leaf_nodes=leaves,
        min_samples_leaf=min_leaf,
        l2_regularization=l2,
        early_stopping=False,
        random_state=0,
    )
    model.fit(x_train, train[TARGET])
    return np.asarray(model.predict_proba(x_test))[:, 1]


POOL: tuple[Entry, ...] = (
    Entry("constant-0.5", constant),
    *(Entry(f"random-{s}", random_guess, {"seed": s}) for s in range(3)),
    Entry("hours-since-maintenance", one_column, {"column": "hours_since_maintenance"}),
    Entry("vibration-only", one_column, {"column": "vibration_mm_s"}),
    Entry("temperature-only", one_column, {"column": "bearing_temp_c"}),
    *(Entry(f"logreg-C{c}", logistic, {"c": c}) for c in (0.01, 1.0)),
    *(Entry(f"forest-depth{d}", forest, {"depth": d}) for d in (4, 10)),
    Entry("gbm-raw-50", boosting, {"iters": 50, "lr": 0.1}),
    Entry("gbm-raw-300", boosting, {"iters": 300, "lr": 0.05}),
    Entry("gbm-rolling-24", boosting_rolling, {"windows": (24,), "iters": 200}),
    Entry("gbm-rolling-6-24-72", boosting_rolling, {"windows": (6, 24, 72), "iters": 300}),
    Entry("gbm-pump-zscores-200", boosting_rich, {"iters": 200}),
    Entry("gbm-pump-zscores-500", boosting_rich, {"iters": 500}),
    # the calibration's causal features (docs/pump-failure.md, "GBM rolling"); the first with
    # its untuned boosting settings, three others fixed before any score was seen and checked
    # on training variants 1-2, never tuned on the evaluation answers:
    # `build_leaderboard.py --seeds 1 2 --only gbm-causal`
    *(
        Entry(f"gbm-causal-{name}", boosting_causal, params)
        for name, params in (
            ("untuned", {"iters": 300, "lr": 0.05, "leaves": 15, "min_leaf": 200, "l2": 0.0}),
            ("leaves31", {"iters": 300, "lr": 0.05, "leaves": 31, "min_leaf": 50, "l2": 1.0}),
            ("fast", {"iters": 200, "lr": 0.1, "leaves": 15, "min_leaf": 300, "l2": 1.0}),
            ("slow600", {"iters": 600, "lr": 0.03, "leaves": 15, "min_leaf": 300, "l2": 1.0}),
        )
    ),
)
