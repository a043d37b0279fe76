"""Implausible scores: a ceiling derived from a competition's real board, and partial copies.

Two checks flag a result as implausible (docs/scoring.md, "Medals and implausibility"):

* **the ceiling** (`metric.implausible_beyond` in competition.yaml, derived by
  `board_ceiling`): the honest top of the real board is its best score that is not a cheat
  (scores at or past `leaderboard.honest_below` are cheats: titanic's test labels are
  public, so ~230 entries sit at 0.9-1.0); the ceiling lies `CEILING_SHARE` of the way from
  that honest top to the metric's perfect score. Our test set is a re-split, easier or
  harder than Kaggle's and small, so the margin is wide: past it, a score has removed two
  thirds of the error the best honest human left, which no plain or tuned model reaches
  here (the leak audit checks that a reference solution stays below it);
* **the partial-copy detector** (`leaderboard.copy_share_beyond`): the share of graded rows
  whose prediction equals the answer (`copied_rows`: the same label; a probability within
  `COPY_EPS` of the 0/1 truth, every class column of a row for class probabilities; a
  value within `COPY_EPS` relative), past what any reference solution reaches
  (`copy_threshold` of the best reference share, its rounded predictions included).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mledojo.grading.metrics import PredictionKind
from mledojo.grading.rank import sort_best_first

PERFECT: dict[str, float] = {
    "accuracy": 1.0,
    "roc_auc": 1.0,
    "f1": 1.0,
    "f1_micro": 1.0,
    "f1_macro": 1.0,
    "quadratic_weighted_kappa": 1.0,
    "log_loss": 0.0,
    "rmse": 0.0,
    "rmsle": 0.0,
    "mae": 0.0,
    "mean_columnwise_rmsle": 0.0,
    "map_at_3": 1.0,
    "smape": 0.0,
    "median_absolute_error": 0.0,
    "balanced_log_loss": 0.0,
    "normalized_gini": 1.0,
    "r2": 1.0,
    "mean_columnwise_roc_auc": 1.0,
}
"""The best score each metric can give (a copy of the answers)."""
CEILING_SHARE = 2 / 3
"""How far from the honest top towards the perfect score the ceiling lies."""
CEILING_DECIMALS = 5
"""competition.yaml holds the ceiling rounded to this many decimals (`derived_ceiling`)."""
COPY_EPS = 1e-6
"""A prediction this close to the answer (relative to max(1, |answer|) for values) is a copy."""


def honest_top(
    board: Sequence[float] | npt.NDArray[np.floating],
    higher_is_better: bool,
    honest_below: float | None,
) -> float | None:
    """The best board score that is not a cheat (strictly worse than `honest_below`), or
    None when every entry is one."""
    ordered = sort_best_first(board, higher_is_better)
    if honest_below is not None:
        if higher_is_better:
            ordered = ordered[ordered < honest_below]
        else:
            ordered = ordered[ordered > honest_below]
    return float(ordered[0]) if ordered.size else None


def board_ceiling(
    board: Sequence[float] | npt.NDArray[np.floating],
    metric: str,
    higher_is_better: bool,
    honest_below: float | None = None,
) -> float | None:
    """The implausibility ceiling of a real board, rounded to `CEILING_DECIMALS`; None when
    the metric's perfect score is unknown or no entry is honest."""
    top = honest_top(board, higher_is_better, honest_below)
    perfect = PERFECT.get(metric)
    if top is None or perfect is None:
        return None
    return round(top + CEILING_SHARE * (perfect - top), CEILING_DECIMALS)


def copied_rows(
    kind: PredictionKind,
    y_true: npt.NDArray[np.generic],
    y_pred: npt.NDArray[np.generic],
) -> npt.NDArray[np.bool_]:
    """Per graded row, whether the prediction equals the answer (the metric's own inputs:
    class codes for labels, 0/1 or one-hot truth for probabilities, values for values; for
    ranked labels, whether the first guess is the answer)."""
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if kind == "ranked_labels":  # the first guess is the answer
        first = pred[:, 0] if pred.ndim > 1 else pred
        return np.asarray(first == truth, dtype=np.bool_)
    if truth.shape != pred.shape:
        return np.zeros(truth.shape[0], dtype=bool)
    if kind == "label":
        same = truth == pred
    elif kind == "value":
        same = np.abs(pred - truth) <= COPY_EPS * np.maximum(1.0, np.abs(truth))
    else:
        same = np.abs(pred - truth) <= COPY_EPS
    if same.ndim > 1:
        same = same.all(axis=1)
    return np.asarray(same, dtype=np.bool_)


def copy_share(
    kind: PredictionKind, y_true: npt.NDArray[np.generic], y_pred: npt.NDArray[np.generic]
) -> float:
    """The share of graded rows whose prediction equals the answer (see `copied_rows`)."""
    rows = copied_rows(kind, y_true, y_pred)
    return float(rows.mean()) if rows.size else 0.0


def copy_threshold(reference_share: float) -> float:
    """The partial-copy threshold above the best reference share: halfway to every row,
    rounded up to 3 decimals (a share past it is far beyond honest work)."""
    half = reference_share + (1.0 - reference_share) / 2
    return float(min(1.0, np.ceil(half * 1000) / 1000))
