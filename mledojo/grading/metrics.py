"""Metric registry: each metric is one small function on numpy arrays, with its direction.

A metric is registered with the `@metric(...)` decorator, which states its name, whether a
higher value is better (never inferred from data), and the prediction kind it needs:

- `label`: one column holding a class label. The function gets float arrays of class codes
  (a class's numeric value when every class is a number, else its index among the sorted
  classes; see `mledojo.grading.scoring.label_codes`), or 0/1 integer arrays when the metric
  is declared `binary=True`.
- `probability`: one column in [0, 1] per target, the probability of its positive class.
  The function gets `y_true` as 0/1 integers and `y_pred` as floats: 1-D for one target,
  2-D (rows x targets) for a `multi_label` task (several 0/1 targets).
- `class_probabilities`: one column per class. The function gets `y_true` as a 0/1
  indicator matrix (one-hot of the answers' label) and `y_pred` as a float matrix of the
  same shape; rows need not sum to 1.
- `ranked_labels`: one column holding up to `RANKED_LABELS` space-separated class labels,
  best first (MAP@3). The function gets `y_true` as 1-D class codes (see `label`) and
  `y_pred` as a float matrix (rows x `RANKED_LABELS`) of class codes, NaN where a row
  names fewer labels.
- `value`: numbers, one column per target. Both arrays are floats, 1-D for one target and
  2-D (rows x targets) for several.

Shaping the arrays is `mledojo.grading.scoring`'s job, so a metric stays a pure function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from mledojo.errors import GradingError, InvalidSubmissionError, did_you_mean


def _skm() -> Any:
    """`sklearn.metrics`, imported on first use so that loading specs stays cheap."""
    from sklearn import metrics

    return metrics


PredictionKind: TypeAlias = Literal[
    "label", "probability", "class_probabilities", "ranked_labels", "value"
]
PREDICTION_KINDS: tuple[PredictionKind, ...] = (
    "label",
    "probability",
    "class_probabilities",
    "ranked_labels",
    "value",
)
#: How many labels a `ranked_labels` cell may hold (MAP@3).
RANKED_LABELS = 3

Array: TypeAlias = npt.NDArray[np.generic]
MetricFn: TypeAlias = Callable[[Array, Array], float]

#: Probabilities are clipped to [EPS, 1 - EPS] before a log loss, as Kaggle does.
LOG_LOSS_EPS = 1e-15


@dataclass(frozen=True)
class Metric:
    """A registered metric: the function plus what grading needs to know about it.

    `kinds` lists the prediction kinds the function accepts; the first one is the default.
    `binary` asks for labels mapped to 0/1 (positive class = 1). `nonnegative` makes
    validation reject negative predictions (log-based errors are undefined for them).
    `multi_label` says the function reads a 0/1 matrix (rows x targets) and a probability
    per target: only such a metric may score a `multi_label` task.
    """

    name: str
    higher_is_better: bool
    kinds: tuple[PredictionKind, ...]
    fn: MetricFn
    binary: bool = False
    nonnegative: bool = False
    description: str = ""
    multi_label: bool = False

    def __call__(self, y_true: Array, y_pred: Array) -> float:
        """Compute the metric; any failure of the function becomes a `GradingError`."""
        try:
            value = float(self.fn(y_true, y_pred))
        except (InvalidSubmissionError, GradingError):
            raise
        except ValueError as e:
            raise GradingError(f"metric `{self.name}` could not be computed: {e}") from e
        return value


class MetricRegistry:
    """Name -> `Metric`. Filled at import time by `@metric`; unknown names suggest close ones."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def register(self, m: Metric) -> Metric:
        """Add a metric; a second metric under the same name is a programming error."""
        if m.name in self._metrics:
            raise GradingError(f"metric `{m.name}` is registered twice; pick another name")
        if not m.kinds or any(k not in PREDICTION_KINDS for k in m.kinds):
            raise GradingError(
                f"metric `{m.name}`: kind must be one of {', '.join(PREDICTION_KINDS)}"
            )
        self._metrics[m.name] = m
        return m

    def get(self, name: str) -> Metric:
        """The metric called `name`; a `GradingError` suggesting close names otherwise."""
        try:
            return self._metrics[name]
        except KeyError:
            _, hint = did_you_mean(name, self._metrics)
            raise GradingError(
                f"No metric `{name}`.{hint} Known metrics: {', '.join(self.names())}."
            ) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._metrics)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._metrics[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._metrics)


#: The built-in metrics. Plug-ins add theirs with `@metric(...)` in a module they import.
METRICS = MetricRegistry()


def metric(
    name: str,
    *,
    higher_is_better: bool,
    kind: PredictionKind | Iterable[PredictionKind],
    binary: bool = False,
    nonnegative: bool = False,
    multi_label: bool = False,
    registry: MetricRegistry | None = None,
) -> Callable[[MetricFn], MetricFn]:
    """Register the decorated function as metric `name` (in `METRICS` unless told otherwise)."""
    kinds: tuple[PredictionKind, ...] = (kind,) if isinstance(kind, str) else tuple(kind)
    target = METRICS if registry is None else registry

    def decorate(fn: MetricFn) -> MetricFn:
        doc = (fn.__doc__ or "").strip().splitlines()
        target.register(
            Metric(
                name=name,
                higher_is_better=higher_is_better,
                kinds=kinds,
                fn=fn,
                binary=binary,
                nonnegative=nonnegative,
                description=doc[0] if doc else "",
                multi_label=multi_label,
            )
        )
        return fn

    return decorate


def get_metric(name: str) -> Metric:
    """The built-in (or plug-in) metric called `name`."""
    return METRICS.get(name)


# --------------------------------------------------------------------------- helpers


def positive_label(labels: Iterable[str], declared: list[str] | None = None) -> str:
    """The positive class of a binary task, as a normalised label.

    A spec listing exactly two `classes` names it second. Otherwise `1` or `True` when present,
    else the last label in sorted order (sklearn's convention).
    """
    if declared is not None and len(declared) == 2:
        return str(declared[1])
    found = sorted(set(labels))
    for candidate in ("1", "True"):
        if candidate in found:
            return candidate
    if not found:
        raise GradingError("cannot pick the positive class: the answers hold no labels")
    return found[-1]


def _as_numbers(y: Array, what: str) -> npt.NDArray[np.float64]:
    """Labels that must be numbers (ordinal ratings) as floats."""
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise GradingError(f"{what} must be numeric ratings for this metric") from e


def _check_nonnegative(y_true: Array, y_pred: Array, name: str) -> None:
    """Log-based errors are undefined below -1; we require >= 0 as Kaggle does."""
    bad = int(np.sum(np.asarray(y_pred, dtype=np.float64) < 0))
    if bad:
        raise InvalidSubmissionError(
            f"{name} needs predictions >= 0, but {bad} are negative; clip them at 0 "
            "(e.g. `np.clip(pred, 0, None)`)."
        )
    if np.any(np.asarray(y_true, dtype=np.float64) < 0):
        raise GradingError(f"{name}: the answers hold negative values; the metric is undefined")


def _two_column(p: Array) -> npt.NDArray[np.float64]:
    """A positive-class probability vector as a (rows, 2) matrix [1 - p, p]."""
    q = np.asarray(p, dtype=np.float64)
    return np.column_stack([1.0 - q, q]) if q.ndim == 1 else q


# --------------------------------------------------------------------------- metrics


@metric("accuracy", higher_is_better=True, kind="label")
def accuracy(y_true: Array, y_pred: Array) -> float:
    """Share of rows whose predicted label equals the true one."""
    return float(_skm().accuracy_score(y_true, y_pred))


def auc_by_weights(
    y_true: Array, y_score: Array
) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """A function of row weights (replicates x rows) giving one ROC AUC per weight row.

    Sorts `y_score` once; a block of weight rows then costs a gather and two `reduceat`s.
    A weight counts a row that many times (a bootstrap replicate; all ones: the plain AUC).
    Tied scores count half; a weight row without positives or negatives gives NaN. Why
    not sklearn's: one sort shared by every replicate, several times faster on 1M rows.
    """
    truth = np.asarray(y_true, dtype=np.float64)
    order = np.argsort(np.asarray(y_score, dtype=np.float64))  # ties share a group below
    ranked = np.asarray(y_score, dtype=np.float64)[order]
    starts = np.empty(ranked.size, dtype=bool)
    starts[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=starts[1:])
    first = np.flatnonzero(starts)  # first sorted row of each group of equal scores
    pos_sorted = truth[order]
    in_order = bool(np.all(np.diff(order) == 1))  # rows already sorted: no gather needed

    ties = first.size < order.size
    positive = pos_sorted > 0.5
    neg_rows = np.flatnonzero(~positive)
    pos_rows = np.flatnonzero(positive)
    neg_before = np.searchsorted(neg_rows, pos_rows)  # negatives sorted below each positive

    def auc(weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        w = np.asarray(weights, dtype=np.float64)
        w = w if in_order else w[:, order]
        if first.size == 0:
            return np.full(w.shape[0], np.nan)
        if not ties:  # each positive beats the negatives sorted below it
            neg_w, pos_w = w[:, neg_rows], w[:, pos_rows]
            below = np.zeros((w.shape[0], neg_rows.size + 1))
            np.cumsum(neg_w, axis=1, out=below[:, 1:])
            n_pos, n_neg = pos_w.sum(axis=1), below[:, -1]
            pairs = (pos_w * below[:, neg_before]).sum(axis=1)
            defined = (n_pos > 0) & (n_neg > 0)
            safe = np.where(defined, n_pos * n_neg, 1.0)
            return np.asarray(np.where(defined, pairs / safe, np.nan), dtype=np.float64)
        pos = np.add.reduceat(w * pos_sorted, first, axis=1)  # per group of equal scores
        neg = np.add.reduceat(w, first, axis=1) - pos
        below = np.cumsum(neg, axis=1) - neg
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        pairs = (pos * (below + 0.5 * neg)).sum(axis=1)
        defined = (n_pos > 0) & (n_neg > 0)
        safe = np.where(defined, n_pos * n_neg, 1.0)
        return np.asarray(np.where(defined, pairs / safe, np.nan), dtype=np.float64)

    return auc


@metric("roc_auc", higher_is_better=True, kind=("probability", "class_probabilities"))
def roc_auc(y_true: Array, y_pred: Array) -> float:
    """Area under the ROC curve; multiclass: one-vs-rest, unweighted mean over classes.

    A class absent from (or making up all of) the scored rows has no ROC curve; it is left
    out of the mean, and a `GradingError` is raised if no class is left.
    """
    if np.asarray(y_true).ndim == 1:
        if np.min(y_true) == np.max(y_true):
            raise GradingError("roc_auc: the scored rows hold only one class; no ROC curve")
        return float(auc_by_weights(y_true, y_pred)(np.ones((1, np.size(y_true))))[0])
    truth = np.asarray(y_true)
    positives = truth.sum(axis=0)
    keep = (positives > 0) & (positives < truth.shape[0])
    if not keep.any():
        raise GradingError("roc_auc: no class has both positive and negative rows")
    return float(_skm().roc_auc_score(truth[:, keep], np.asarray(y_pred)[:, keep], average="macro"))


@metric("log_loss", higher_is_better=False, kind=("probability", "class_probabilities"))
def log_loss(y_true: Array, y_pred: Array) -> float:
    """Mean negative log-likelihood of the true class; clipped and row-renormalised like Kaggle."""
    truth = np.asarray(y_true, dtype=np.float64)
    if truth.ndim == 1:
        truth = np.column_stack([1.0 - truth, truth])
    prob = np.clip(_two_column(y_pred), LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    prob = prob / prob.sum(axis=1, keepdims=True)
    return float(_skm().log_loss(truth, prob))


@metric("f1", higher_is_better=True, kind="label", binary=True)
def f1(y_true: Array, y_pred: Array) -> float:
    """F1 score of the positive class (binary tasks)."""
    return float(_skm().f1_score(y_true, y_pred, pos_label=1, average="binary", zero_division=0.0))


@metric("f1_micro", higher_is_better=True, kind="label")
def f1_micro(y_true: Array, y_pred: Array) -> float:
    """F1 over all rows pooled (equals accuracy for single-label tasks)."""
    return float(_skm().f1_score(y_true, y_pred, average="micro", zero_division=0.0))


@metric("f1_macro", higher_is_better=True, kind="label")
def f1_macro(y_true: Array, y_pred: Array) -> float:
    """Unweighted mean of per-class F1 over the classes seen in answers or predictions."""
    return float(_skm().f1_score(y_true, y_pred, average="macro", zero_division=0.0))


@metric("quadratic_weighted_kappa", higher_is_better=True, kind="label")
def quadratic_weighted_kappa(y_true: Array, y_pred: Array) -> float:
    """Cohen's kappa with quadratic weights on ordinal ratings.

    Integer ratings use every rating between the smallest and the largest seen (as Kaggle's
    reference implementation does), so an unused rating still counts in the distances.
    """
    a = _as_numbers(y_true, "answers")
    b = _as_numbers(y_pred, "predictions")
    both = np.concatenate([a, b])
    labels: Array | None = None
    if np.all(np.mod(both, 1) == 0):
        labels = np.arange(both.min(), both.max() + 1)
    return float(_skm().cohen_kappa_score(a, b, labels=labels, weights="quadratic"))


@metric("rmse", higher_is_better=False, kind="value")
def rmse(y_true: Array, y_pred: Array) -> float:
    """Root mean squared error (averaged over target columns when there are several)."""
    return float(_skm().root_mean_squared_error(y_true, y_pred))


@metric("rmsle", higher_is_better=False, kind="value", nonnegative=True)
def rmsle(y_true: Array, y_pred: Array) -> float:
    """Root mean squared error of log(1 + x); predictions must be >= 0."""
    _check_nonnegative(y_true, y_pred, "rmsle")
    return float(_skm().root_mean_squared_log_error(y_true, y_pred))


@metric("mae", higher_is_better=False, kind="value")
def mae(y_true: Array, y_pred: Array) -> float:
    """Mean absolute error (averaged over target columns when there are several)."""
    return float(_skm().mean_absolute_error(y_true, y_pred))


@metric("mean_columnwise_rmsle", higher_is_better=False, kind="value", nonnegative=True)
def mean_columnwise_rmsle(y_true: Array, y_pred: Array) -> float:
    """RMSLE of each target column, then their mean; predictions must be >= 0."""
    _check_nonnegative(y_true, y_pred, "mean_columnwise_rmsle")
    per_column = _skm().root_mean_squared_log_error(y_true, y_pred, multioutput="raw_values")
    return float(np.mean(per_column))


@metric("median_absolute_error", higher_is_better=False, kind="value")
def median_absolute_error(y_true: Array, y_pred: Array) -> float:
    """Median of |true - predicted| (averaged over target columns when there are several)."""
    return float(_skm().median_absolute_error(y_true, y_pred))


@metric("r2", higher_is_better=True, kind="value")
def r2(y_true: Array, y_pred: Array) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot (averaged over target columns).

    Constant answers give 1.0 for a perfect prediction and 0.0 otherwise (sklearn's rule).
    """
    return float(_skm().r2_score(y_true, y_pred))


def smape_terms(y_true: Array, y_pred: Array) -> npt.NDArray[np.float64]:
    """Per cell, 200 |F - A| / (|A| + |F|), and 0 where both are 0 (Kaggle's convention)."""
    a = np.asarray(y_true, dtype=np.float64)
    f = np.asarray(y_pred, dtype=np.float64)
    denom = np.abs(a) + np.abs(f)
    safe = np.where(denom == 0, 1.0, denom)
    return np.asarray(np.where(denom == 0, 0.0, 200.0 * np.abs(f - a) / safe), dtype=np.float64)


@metric("smape", higher_is_better=False, kind="value")
def smape(y_true: Array, y_pred: Array) -> float:
    """Symmetric mean absolute percentage error in percent, 0-200 (Kaggle's definition).

    Each cell adds |F - A| / ((|A| + |F|) / 2); a cell where both are 0 adds 0. Several
    target columns: the mean over every cell.
    """
    return float(np.mean(smape_terms(y_true, y_pred)))


def class_matrix(
    y_true: Array, y_pred: Array
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Truth as an indicator matrix and probabilities clipped and row-renormalised (as
    `log_loss` does), for a positive-class vector or a class-probability matrix (also the
    bootstrap's inputs, `intervals.py`)."""
    truth = np.asarray(y_true, dtype=np.float64)
    if truth.ndim == 1:
        truth = np.column_stack([1.0 - truth, truth])
    prob = np.clip(_two_column(y_pred), LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    return truth, prob / prob.sum(axis=1, keepdims=True)


@metric("balanced_log_loss", higher_is_better=False, kind=("probability", "class_probabilities"))
def balanced_log_loss(y_true: Array, y_pred: Array) -> float:
    """Log loss with each class weighted equally: the mean over classes of the mean
    negative log-probability of that class's rows (ICR's metric; `log_loss`'s clipping).

    A class absent from the scored rows has no mean; it is left out (a `GradingError` if
    no class is present).
    """
    truth, prob = class_matrix(y_true, y_pred)
    counts = truth.sum(axis=0)
    present = counts > 0
    if not present.any():
        raise GradingError("balanced_log_loss: the scored rows hold no class")
    per_class = -(truth * np.log(prob)).sum(axis=0)[present] / counts[present]
    return float(np.mean(per_class))


def gini_order(y_pred: Array) -> npt.NDArray[np.intp]:
    """Rows by prediction, largest first; tied predictions keep their row order (Kaggle's
    scripts for Liberty Mutual sort on (-prediction, row))."""
    return np.asarray(
        np.argsort(-np.asarray(y_pred, dtype=np.float64), kind="stable"), dtype=np.intp
    )


def _gini(truth: npt.NDArray[np.float64], order: npt.NDArray[np.intp]) -> float:
    """Sum over the ranked rows of (cumulative share of the total truth - share of rows)."""
    total = float(truth.sum())
    n = truth.size
    lorenz = np.cumsum(truth[order]) / total
    return float(np.sum(lorenz - np.arange(1, n + 1) / n))


@metric("normalized_gini", higher_is_better=True, kind="value")
def normalized_gini(y_true: Array, y_pred: Array) -> float:
    """Gini of the order the predictions give over the Gini of the perfect order (Liberty
    Mutual's metric): 1 ranks the rows as the truth does, 0 as a random order, below 0 worse.

    Only the order of the predictions counts; ties keep the answers' row order, as in
    Kaggle's scripts. Undefined (a `GradingError`) when the answers sum to 0 or are constant.
    """
    truth = np.asarray(y_true, dtype=np.float64)
    if truth.ndim != 1:
        raise GradingError("normalized_gini takes one target column")
    if truth.size == 0 or truth.sum() == 0 or np.min(truth) == np.max(truth):
        raise GradingError("normalized_gini: the answers are constant or sum to 0; no Gini")
    return _gini(truth, gini_order(y_pred)) / _gini(truth, gini_order(truth))


@metric("mean_columnwise_roc_auc", higher_is_better=True, kind="probability", multi_label=True)
def mean_columnwise_roc_auc(y_true: Array, y_pred: Array) -> float:
    """ROC AUC of each 0/1 target column against its probability column, then their mean
    (multi_label tasks; one column: the plain ROC AUC).

    A column whose scored rows hold one value only has no ROC curve; it is left out of the
    mean, and a `GradingError` is raised if no column is left.
    """
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if truth.ndim == 1:
        truth, pred = truth[:, None], pred[:, None]
    ones = np.ones((1, truth.shape[0]))
    aucs = [
        float(auc_by_weights(truth[:, j], pred[:, j])(ones)[0])
        for j in range(truth.shape[1])
        if 0 < truth[:, j].sum() < truth.shape[0]
    ]
    if not aucs:
        raise GradingError("mean_columnwise_roc_auc: no column holds both 0 and 1 answers")
    return float(np.mean(aucs))


def map3_hits(y_true: Array, y_pred: Array) -> npt.NDArray[np.float64]:
    """Per row, 1/k for the first of its ranked labels equal to the truth at position k,
    else 0 (average precision at 3 with one true label; repeats after a hit add nothing)."""
    truth = np.asarray(y_true, dtype=np.float64)
    ranked = np.asarray(y_pred, dtype=np.float64)
    if ranked.ndim == 1:
        ranked = ranked[:, None]
    hit = ranked[:, :RANKED_LABELS] == truth[:, None]  # NaN (an empty slot) never hits
    first = np.argmax(hit, axis=1)
    return np.asarray(np.where(hit.any(axis=1), 1.0 / (first + 1.0), 0.0), dtype=np.float64)


@metric("map_at_3", higher_is_better=True, kind="ranked_labels")
def map_at_3(y_true: Array, y_pred: Array) -> float:
    """Mean average precision at 3: a row scores 1, 1/2 or 1/3 when its true label is its
    first, second or third guess, 0 otherwise (one true label per row)."""
    return float(np.mean(map3_hits(y_true, y_pred)))
