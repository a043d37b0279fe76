"""The fixed pool of reference solutions that makes pump-failure's reference leaderboard.

Each entry reads only the public files (train.csv, test.csv) and returns one probability per
test row. Quality varies on purpose, from uninformed to strong, so that a HumanRank against
this pool says where an agent stands among simple, decent and good approaches.
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


@dataclass(frozen=True)
class Entry:
    """One reference solution: a name, a function and its parameters."""

    name: str
    fn: Callable[..., np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)

    def predict(self, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        return self.fn(train, test, **self.params)


def _raw(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in (*KEYS, TARGET) if c in df.columns]).select_dtypes("number")


def _rolling(
    train: pd.DataFrame, test: pd.DataFrame, windows: tuple[int, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-pump rolling means, deviations and slopes over train+test in time order."""
    both = pd.concat([train.assign(_t=0), test.assign(_t=1)], ignore_index=True)
    both = both.sort_values(["pump_id", "timestamp"], kind="stable")
    sensors = [c for c in _raw(test).columns if c != "hours_since_maintenance"]
    g = both.groupby("pump_id", sort=False)
    for c in sensors:
        filled = g[c].ffill()
        by = filled.groupby(both["pump_id"])
        for w in windows:
            mean = by.rolling(w, min_periods=1).mean().reset_index(level=0, drop=True)
            both[f"{c}_dev{w}"] = filled - mean
        base = by.rolling(336, min_periods=24).mean().reset_index(level=0, drop=True)
        both[f"{c}_rel"] = filled - base
        both[f"{c}_slope"] = filled - by.shift(max(windows))
    both = both.sort_index()
    feats = _raw(both.drop(columns=["_t"]))
    return feats[both["_t"] == 0], feats[both["_t"] == 1]


def _rich(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-pump z-scores against the pump's own history, multi-window means, spreads, slopes."""
    both = pd.concat([train.assign(_t=0), test.assign(_t=1)], ignore_index=True)
    both = both.sort_values(["pump_id", "timestamp"], kind="stable")
    sensors = [c for c in _raw(test).columns if c not in ("hours_since_maintenance", "load_pct")]
    g = both.groupby("pump_id", sort=False)
    for c in sensors:
        filled = g[c].ffill()
        by = filled.groupby(both["pump_id"])
        base = by.rolling(336, min_periods=24).mean().reset_index(level=0, drop=True)
        spread = by.rolling(336, min_periods=24).std().reset_index(level=0, drop=True)
        for w in (6, 24, 72):
            mean = by.rolling(w, min_periods=1).mean().reset_index(level=0, drop=True)
            both[f"{c}_z{w}"] = (mean - base) / spread
            both[f"{c}_sd{w}"] = by.rolling(w, min_periods=2).std().reset_index(level=0, drop=True)
        both[f"{c}_slope24"] = filled - by.shift(24)
        both[f"{c}_slope72"] = filled - by.shift(72)
    both = both.sort_index()
    feats = _raw(both.drop(columns=["_t"]))
    return feats[both["_t"] == 0], feats[both["_t"] == 1]


def boosting_rich(train: pd.DataFrame, test: pd.DataFrame, iters: int) -> np.ndarray:
    x_train, x_test = _rich(train, test)
    model = HistGradientBoostingClassifier(
        max_iter=iters,
        learning_rate=0.04,
        max_leaf_nodes=31,
        l2_regularization=1.0,
        random_state=0,
    )
    model.fit(x_train, train[TARGET])
    return model.predict_proba(x_test)[:, 1]


def constant(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    return np.full(len(test), 0.5)


def random_guess(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(len(test))


def one_column(train: pd.DataFrame, test: pd.DataFrame, column: str) -> np.ndarray:
    values = test[column].fillna(test[column].median()).rank(pct=True)
    return values.to_numpy(dtype=float)  # a percentile rank: a valid probability, same AUC


def logistic(train: pd.DataFrame, test: pd.DataFrame, c: float) -> np.ndarray:
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(C=c, max_iter=500))
    model.fit(_raw(train), train[TARGET])
    return model.predict_proba(_raw(test))[:, 1]


def forest(train: pd.DataFrame, test: pd.DataFrame, depth: int) -> np.ndarray:
    model = make_pipeline(
        SimpleImputer(),
        RandomForestClassifier(n_estimators=100, max_depth=depth, n_jobs=2, random_state=0),
    )
    model.fit(_raw(train), train[TARGET])
    return model.predict_proba(_raw(test))[:, 1]


def boosting(train: pd.DataFrame, test: pd.DataFrame, iters: int, lr: float) -> np.ndarray:
    model = HistGradientBoostingClassifier(max_iter=iters, learning_rate=lr, random_state=0)
    model.fit(_raw(train), train[TARGET])
    return model.predict_proba(_raw(test))[:, 1]


def boosting_rolling(
    train: pd.DataFrame, test: pd.DataFrame, windows: tuple[int, ...], iters: int
) -> np.ndarray:
    x_train, x_test = _rolling(train, test, windows)
    model = HistGradientBoostingClassifier(max_iter=iters, learning_rate=0.05, random_state=0)
    model.fit(x_train, train[TARGET])
    return model.predict_proba(x_test)[:, 1]


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
)
