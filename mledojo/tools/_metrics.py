"""The competition metrics by name, with their direction, computed inside the sandbox.

The names and definitions follow mledojo's grading registry (which cannot be imported
here): accuracy, roc_auc, log_loss, f1, f1_micro, f1_macro, quadratic_weighted_kappa,
rmse, rmsle, mae, mean_columnwise_rmsle, median_absolute_error, r2, smape,
balanced_log_loss, normalized_gini, mean_columnwise_roc_auc, map_at_3. A test holds the two
in agreement. The tools score one model's predictions: `map_at_3` of one label per row
(the model's best guess) and `mean_columnwise_roc_auc` of one column are the degenerate
cases of the grader's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._base import ToolArgumentError, ToolError

Kind = Literal["label", "probability", "value"]
Arr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MetricDef:
    """A metric: what it needs (labels, probabilities or values) and which way is better."""

    name: str
    higher_is_better: bool
    kind: Kind
    fn: Callable[[npt.NDArray[np.int64] | Arr, Arr], float]


def _skm() -> Any:
    import sklearn.metrics as skm

    return skm


def _accuracy(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    return float(np.mean(np.asarray(y) == np.asarray(p)))


def _roc_auc(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    y = np.asarray(y, dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise ToolError("roc_auc needs both classes among the scored rows")
    if p.ndim == 2 and p.shape[1] > 2:
        present = np.unique(y).astype(int)
        truth = np.eye(p.shape[1])[y.astype(int)]
        return float(_skm().roc_auc_score(truth[:, present], p[:, present], average="macro"))
    score = p[:, 1] if p.ndim == 2 else p
    return float(_skm().roc_auc_score(y, score))


def _log_loss(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    probs = np.column_stack([1 - p, p]) if p.ndim == 1 else p
    probs = np.clip(probs, 1e-15, 1 - 1e-15)
    probs = probs / probs.sum(axis=1, keepdims=True)
    rows = np.arange(len(probs))
    return float(-np.mean(np.log(probs[rows, np.asarray(y).astype(int)])))


def _f1(average: str) -> Callable[[npt.NDArray[np.int64] | Arr, Arr], float]:
    def f(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
        kwargs: dict[str, object] = {"average": average, "zero_division": 0.0}
        if average == "binary":
            kwargs["pos_label"] = 1
        return float(_skm().f1_score(y, p, **kwargs))

    return f


MAX_RATING_LEVELS = 1000
"""Quadratic weighted kappa is for ratings: its weight matrix has one row per level, so a
whole-number target such as a price or a case count (levels in the 100,000s) would need
tens of gigabytes. Past this many levels the metric does not apply."""


def _qwk(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    a = np.asarray(y, dtype=float)
    b = np.asarray(p, dtype=float)
    both = np.concatenate([a, b])
    levels = both.max() - both.min() + 1 if both.size else 0
    if not np.isfinite(levels) or levels > MAX_RATING_LEVELS:
        raise ToolError(
            f"quadratic weighted kappa is for ratings; these values span {levels:.0f} levels "
            f"(more than {MAX_RATING_LEVELS})"
        )
    labels = np.arange(both.min(), both.max() + 1) if np.all(np.mod(both, 1) == 0) else None
    return float(_skm().cohen_kappa_score(a, b, labels=labels, weights="quadratic"))


def _nonneg(name: str, y: npt.NDArray[np.int64] | Arr, p: Arr) -> None:
    if np.any(np.asarray(p) < 0) or np.any(np.asarray(y) < 0):
        raise ToolError(f"{name} needs values >= 0; clip the predictions at 0")


def _rmse(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    return float(_skm().root_mean_squared_error(y, p))


def _rmsle(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    _nonneg("rmsle", y, p)
    return float(_skm().root_mean_squared_log_error(y, p))


def _mae(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    return float(_skm().mean_absolute_error(y, p))


def _mc_rmsle(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    _nonneg("mean_columnwise_rmsle", y, p)
    per = _skm().root_mean_squared_log_error(y, p, multioutput="raw_values")
    return float(np.mean(per))


def _median_ae(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    return float(_skm().median_absolute_error(y, p))


def _r2(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    return float(_skm().r2_score(y, p))


def _smape(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    a, f = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    denom = np.abs(a) + np.abs(f)
    terms = np.where(denom == 0, 0.0, 200.0 * np.abs(f - a) / np.where(denom == 0, 1.0, denom))
    return float(np.mean(terms))


def _balanced_log_loss(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    prob = np.asarray(p, dtype=np.float64)
    if prob.ndim == 1:
        prob = np.column_stack([1.0 - prob, prob])
    truth = np.asarray(y, dtype=np.float64)
    if truth.ndim == 1:  # class indices (0/1 for a binary task)
        truth = np.eye(prob.shape[1])[truth.astype(int)]
    prob = np.clip(prob, 1e-15, 1.0 - 1e-15)
    prob = prob / prob.sum(axis=1, keepdims=True)
    counts = truth.sum(axis=0)
    present = counts > 0
    if not present.any():
        raise ToolError("balanced_log_loss: the rows hold no class")
    return float(np.mean(-(truth * np.log(prob)).sum(axis=0)[present] / counts[present]))


def _gini(truth: Arr, by: Arr) -> float:
    order = np.argsort(-by, kind="stable")
    lorenz = np.cumsum(truth[order]) / truth.sum()
    return float(np.sum(lorenz - np.arange(1, truth.size + 1) / truth.size))


def _normalized_gini(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    truth = np.asarray(y, dtype=np.float64)
    if truth.size == 0 or truth.sum() == 0 or np.min(truth) == np.max(truth):
        raise ToolError("normalized_gini: the answers are constant or sum to 0")
    return _gini(truth, np.asarray(p, dtype=np.float64)) / _gini(truth, truth)


def _mc_roc_auc(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    truth, pred = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if truth.ndim == 1:
        truth, pred = truth[:, None], pred[:, None]
    aucs = [
        _roc_auc(truth[:, j], pred[:, j])
        for j in range(truth.shape[1])
        if 0 < truth[:, j].sum() < truth.shape[0]
    ]
    if not aucs:
        raise ToolError("mean_columnwise_roc_auc: no column holds both 0 and 1 answers")
    return float(np.mean(aucs))


def _map_at_3(y: npt.NDArray[np.int64] | Arr, p: Arr) -> float:
    truth, ranked = np.asarray(y), np.asarray(p)
    if ranked.ndim == 1:
        ranked = ranked[:, None]
    hits = np.zeros(truth.shape[0])
    for k in range(min(3, ranked.shape[1]) - 1, -1, -1):  # the first hit wins
        hits = np.where(ranked[:, k] == truth, 1.0 / (k + 1), hits)
    return float(np.mean(hits))


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef("accuracy", True, "label", _accuracy),
        MetricDef("roc_auc", True, "probability", _roc_auc),
        MetricDef("log_loss", False, "probability", _log_loss),
        MetricDef("f1", True, "label", _f1("binary")),
        MetricDef("f1_micro", True, "label", _f1("micro")),
        MetricDef("f1_macro", True, "label", _f1("macro")),
        MetricDef("quadratic_weighted_kappa", True, "label", _qwk),
        MetricDef("rmse", False, "value", _rmse),
        MetricDef("rmsle", False, "value", _rmsle),
        MetricDef("mae", False, "value", _mae),
        MetricDef("mean_columnwise_rmsle", False, "value", _mc_rmsle),
        MetricDef("median_absolute_error", False, "value", _median_ae),
        MetricDef("r2", True, "value", _r2),
        MetricDef("smape", False, "value", _smape),
        MetricDef("normalized_gini", True, "value", _normalized_gini),
        MetricDef("balanced_log_loss", False, "probability", _balanced_log_loss),
        MetricDef("mean_columnwise_roc_auc", True, "probability", _mc_roc_auc),
        MetricDef("map_at_3", True, "label", _map_at_3),
    )
}
CLASSIFICATION_ONLY = {"accuracy", "roc_auc", "log_loss", "f1", "f1_micro", "f1_macro"}
BINARY_ONLY = {"f1", "mean_columnwise_roc_auc"}  # one 0/1 column per model


def get_metric(name: str, *, argument: str = "metric") -> MetricDef:
    """The metric called `name`, or an error listing the known names."""
    if name not in METRICS:
        raise ToolArgumentError(
            f"argument `{argument}`: unknown metric {name[:60]!r}; known: {', '.join(METRICS)}"
        )
    return METRICS[name]
