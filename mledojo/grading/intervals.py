"""Bootstrap intervals on scores, medal probabilities, and the board's two-level bootstrap.

A score is computed on a sample of test rows; another sample of the same size would give
another score. Each bootstrap replicate draws the graded rows again, with replacement (a
row drawn k times counts k times), and recomputes the metric; the 95 % interval is the
2.5-97.5 percentile of the replicates, and the probability of a medal is the share of
replicates at or past its threshold (direction: the metric spec).

Replicates are computed from row counts (replicates x rows), vectorised per metric
(`weighted_scores`); a metric without a vectorised form (a plug-in) is recomputed on each
replicate's rows. Label metrics depend only on the confusion cells (true class, predicted
class), so their counts are drawn over the cells (one multinomial, the same distribution
as drawing rows), which costs nothing on a million rows. Seeded: the same inputs give the
same interval.

The board (`board_mean_interval`, `board_rate_interval`) bootstraps twice: over episodes
(agent seeds), then within each drawn episode over its test rows, represented by the
episode's own interval (a split normal through `lo`, score, `hi`) or medal probability.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict

from mledojo.competition import MetricSpec
from mledojo.errors import GradingError
from mledojo.grading.metrics import (
    Array,
    Metric,
    auc_by_weights,
    class_matrix,
    gini_order,
    map3_hits,
    smape_terms,
)
from mledojo.grading.rank import TIE_TOLERANCE, MedalThresholds

Floats = npt.NDArray[np.float64]
WeightedFn = Callable[[Floats], Floats]

#: Replicates of a row bootstrap up to `FULL_ROWS` graded rows; beyond, fewer (at least
#: `MIN_REPLICATES`) so that replicates x rows stays near `WORK`: the cost is linear in it.
REPLICATES = 1000
MIN_REPLICATES = 200
FULL_ROWS = 100_000
WORK = 200_000_000
#: The interval's coverage.
LEVEL = 0.95
SEED = 0
#: Counts held in memory at once (replicates x rows of one block).
BLOCK_CELLS = 4_000_000
#: A replicate whose metric is undefined (one class only) is dropped; past this share
#: dropped, there is no interval.
MAX_UNDEFINED = 0.1
#: z of the two-sided 95 % normal interval: turns an episode's interval into a spread.
Z95 = 1.959963984540054


class MedalProbabilities(BaseModel):
    """Share of bootstrap replicates at or past each medal's threshold (silver: silver or
    gold; bronze: any medal)."""

    model_config = ConfigDict(frozen=True)

    gold: float
    silver: float
    bronze: float


class Bootstrap(NamedTuple):
    """The replicate scores (undefined ones dropped) and their percentile interval."""

    scores: Floats
    lo: float
    hi: float


def replicates_for(n_rows: int) -> int:
    """How many replicates a row bootstrap of `n_rows` rows uses (see `REPLICATES`)."""
    if n_rows <= FULL_ROWS:
        return REPLICATES
    return max(MIN_REPLICATES, min(REPLICATES, WORK // max(n_rows, 1)))


def bootstrap_counts(n: int, replicates: int, seed: int = SEED) -> Iterator[Floats]:
    """Blocks of row counts, one row per replicate: how often each of `n` rows was drawn.

    Each replicate draws `n` row numbers uniformly with replacement, in order from one
    seeded generator, so the counts do not depend on the block size.
    """
    if n < 1:
        raise GradingError("a bootstrap needs at least one graded row")
    rng = np.random.default_rng(seed)
    per_block = max(1, BLOCK_CELLS // n)
    for start in range(0, replicates, per_block):
        k = min(per_block, replicates - start)
        block = np.empty((k, n), dtype=np.float64)
        for i in range(k):
            block[i] = np.bincount(rng.integers(0, n, size=n), minlength=n)
        yield block


# --------------------------------------------------------------------------- metrics


def _totals(w: Floats) -> Floats:
    return np.asarray(w.sum(axis=1), dtype=np.float64)


def _accuracy(y_true: Array, y_pred: Array) -> WeightedFn:
    hit = (np.asarray(y_true) == np.asarray(y_pred)).astype(np.float64)
    return lambda w: np.asarray(w @ hit / _totals(w), dtype=np.float64)


def _f1(tp: Floats, fp: Floats, fn: Floats) -> Floats:
    denom = 2 * tp + fp + fn
    safe = np.where(denom > 0, denom, 1.0)
    return np.asarray(np.where(denom > 0, 2 * tp / safe, 0.0), dtype=np.float64)


def _f1_binary(y_true: Array, y_pred: Array) -> WeightedFn:
    t = np.asarray(y_true) == 1
    p = np.asarray(y_pred) == 1
    cells = np.column_stack([t & p, ~t & p, t & ~p]).astype(np.float64)
    return lambda w: _f1(*(w @ cells).T)


def _f1_macro(y_true: Array, y_pred: Array) -> WeightedFn:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    classes = np.union1d(t, p)
    is_t = (t[:, None] == classes[None, :]).astype(np.float64)
    is_p = (p[:, None] == classes[None, :]).astype(np.float64)
    both = is_t * is_p

    def score(w: Floats) -> Floats:
        tp, nt, np_ = w @ both, w @ is_t, w @ is_p
        seen = (nt + np_) > 0  # sklearn: the classes of this replicate's rows
        per = _f1(tp, np_ - tp, nt - tp)
        return np.asarray((per * seen).sum(axis=1) / seen.sum(axis=1), dtype=np.float64)

    return score


def _kappa(y_true: Array, y_pred: Array) -> WeightedFn | None:
    """Quadratic weighted kappa from five weighted row means; integer ratings only.

    With integer ratings every rating between the smallest and the largest counts, so a
    rating's position is its value: the observed disagreement is the mean of (t - p)^2 and
    the chance one, from the margins, E[t^2] + E[p^2] - 2 E[t] E[p] (no ratings x ratings
    matrix, whatever the number of levels). Other ratings: None (recomputed per replicate).
    """
    a, b = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if not np.all(np.mod(np.concatenate([a, b]), 1) == 0):
        return None
    shift = min(a.min(), b.min())  # smaller numbers, same differences
    a, b = a - shift, b - shift
    columns = np.column_stack([(a - b) ** 2, a, b, a**2, b**2])

    def score(w: Floats) -> Floats:
        disagree, ta, pb, ta2, pb2 = (w @ columns / _totals(w)[:, None]).T
        chance = ta2 + pb2 - 2 * ta * pb
        safe = np.where(chance > 0, chance, 1.0)
        return np.asarray(np.where(chance > 0, 1.0 - disagree / safe, np.nan), dtype=np.float64)

    return score


def _roc_auc(y_true: Array, y_pred: Array) -> WeightedFn:
    truth, pred = np.asarray(y_true), np.asarray(y_pred)
    if truth.ndim == 1:
        return auc_by_weights(truth, pred)
    per_class = [auc_by_weights(truth[:, c], pred[:, c]) for c in range(truth.shape[1])]

    def score(w: Floats) -> Floats:
        aucs = np.column_stack([f(w) for f in per_class])  # NaN: class absent or everywhere
        kept = ~np.isnan(aucs)
        total = np.where(kept, aucs, 0.0).sum(axis=1)
        n = kept.sum(axis=1)
        return np.asarray(np.where(n > 0, total / np.maximum(n, 1), np.nan), dtype=np.float64)

    return score


def _mean_of(per_row: Floats) -> WeightedFn:
    return lambda w: np.asarray(w @ per_row / _totals(w), dtype=np.float64)


def _log_loss(y_true: Array, y_pred: Array) -> WeightedFn:
    truth, prob = class_matrix(y_true, y_pred)
    return _mean_of(-(truth * np.log(prob)).sum(axis=1))


ErrorFn = Callable[[Floats, Floats], Floats]


def _column_errors(error: ErrorFn, root: bool) -> Callable[[Array, Array], WeightedFn]:
    """Mean over target columns of the (root) mean of `error(truth, pred)` per column."""

    def make(y_true: Array, y_pred: Array) -> WeightedFn:
        t = np.asarray(y_true, dtype=np.float64)
        errors = error(t, np.asarray(y_pred, dtype=np.float64)).reshape(t.shape[0], -1)

        def score(w: Floats) -> Floats:
            per_column = w @ errors / _totals(w)[:, None]
            per_column = np.sqrt(per_column) if root else per_column
            return np.asarray(per_column.mean(axis=1), dtype=np.float64)

        return score

    return make


def _squared(t: Floats, p: Floats) -> Floats:
    return np.asarray((p - t) ** 2, dtype=np.float64)


def _squared_log(t: Floats, p: Floats) -> Floats:
    return np.asarray((np.log1p(p) - np.log1p(t)) ** 2, dtype=np.float64)


def _absolute(t: Floats, p: Floats) -> Floats:
    return np.asarray(np.abs(p - t), dtype=np.float64)


def _smape(y_true: Array, y_pred: Array) -> WeightedFn:
    terms = smape_terms(y_true, y_pred)
    return _mean_of(terms.reshape(terms.shape[0], -1).mean(axis=1))


def _map_at_3(y_true: Array, y_pred: Array) -> WeightedFn:
    return _mean_of(map3_hits(y_true, y_pred))


def _weighted_median(values: Floats) -> WeightedFn:
    """The median of `values` with each row repeated as often as counted (numpy's median
    of the repeated rows: the mean of the two middle ones when the total is even)."""
    order = np.argsort(values, kind="stable")
    ranked = values[order]

    def score(w: Floats) -> Floats:
        cum = np.cumsum(w[:, order], axis=1)
        total = cum[:, -1:]
        lower = (cum <= np.floor((total - 1) / 2)).sum(axis=1)  # index of the lower middle
        upper = (cum <= np.floor(total / 2)).sum(axis=1)
        last = ranked.size - 1
        mid = (ranked[np.minimum(lower, last)] + ranked[np.minimum(upper, last)]) / 2
        return np.asarray(np.where(total[:, 0] > 0, mid, np.nan), dtype=np.float64)

    return score


def _median_absolute_error(y_true: Array, y_pred: Array) -> WeightedFn:
    t = np.asarray(y_true, dtype=np.float64)
    errors = _absolute(t, np.asarray(y_pred, dtype=np.float64)).reshape(t.shape[0], -1)
    per_column = [_weighted_median(errors[:, j]) for j in range(errors.shape[1])]
    return lambda w: np.asarray(np.mean([f(w) for f in per_column], axis=0), dtype=np.float64)


def _r2(y_true: Array, y_pred: Array) -> WeightedFn:
    """1 - SS_res / SS_tot per column from weighted sums (sklearn's rule when SS_tot is 0:
    1 for a perfect prediction, else 0), then the mean over columns."""
    t = np.asarray(y_true, dtype=np.float64)
    t = t.reshape(t.shape[0], -1)
    residual = _squared(t, np.asarray(y_pred, dtype=np.float64).reshape(t.shape))
    centred = t - t.mean(axis=0)  # smaller numbers: the sums of squares lose less
    squares = centred**2

    def score(w: Floats) -> Floats:
        total = _totals(w)[:, None]
        ss_res = w @ residual
        ss_tot = w @ squares - (w @ centred) ** 2 / total
        flat = ss_tot <= 1e-12 * np.maximum(w @ squares, 1e-300)
        safe = np.where(flat, 1.0, ss_tot)
        per_column = np.where(flat, np.where(ss_res == 0, 1.0, 0.0), 1.0 - ss_res / safe)
        return np.asarray(per_column.mean(axis=1), dtype=np.float64)

    return score


def _balanced_log_loss(y_true: Array, y_pred: Array) -> WeightedFn:
    truth, prob = class_matrix(y_true, y_pred)
    losses = -truth * np.log(prob)  # per row, the loss of its class (0 elsewhere)

    def score(w: Floats) -> Floats:
        counts = w @ truth
        present = counts > 0
        per_class = np.where(present, (w @ losses) / np.where(present, counts, 1.0), 0.0)
        n = present.sum(axis=1)
        return np.asarray(
            np.where(n > 0, per_class.sum(axis=1) / np.maximum(n, 1), np.nan), dtype=np.float64
        )

    return score


def _weighted_gini(truth: Floats, order: npt.NDArray[np.intp]) -> WeightedFn:
    """The Gini sum over the rows repeated as counted, in `order` (a row's copies are
    adjacent). With N rows, truth total A, and c a row's cumulative count (its own copies
    included), the sum of (cumulative truth share - row share) over positions is
    N / 2 - sum(a w (c - w / 2)) / A: one cumulative sum per replicate."""
    a = truth[order]
    in_order = bool(np.all(np.diff(order) == 1))  # rows already ranked: no gather needed

    def gini(w: Floats) -> Floats:
        wo = w if in_order else w[:, order]
        cum = np.cumsum(wo, axis=1)
        total_a = wo @ a
        n = cum[:, -1]
        safe_a = np.where(total_a != 0, total_a, 1.0)
        spread = (wo * (cum - wo / 2)) @ a
        return np.asarray(np.where(total_a != 0, n / 2 - spread / safe_a, np.nan))

    return gini


def _normalized_gini(y_true: Array, y_pred: Array) -> WeightedFn | None:
    truth = np.asarray(y_true, dtype=np.float64)
    if truth.ndim != 1:
        return None
    by_pred = _weighted_gini(truth, gini_order(y_pred))
    by_truth = _weighted_gini(truth, gini_order(truth))

    def score(w: Floats) -> Floats:
        top = by_truth(w)
        defined = np.isfinite(top) & (np.abs(top) > 1e-12)
        return np.asarray(
            np.where(defined, by_pred(w) / np.where(defined, top, 1.0), np.nan), dtype=np.float64
        )

    return score


_VECTORISED: dict[str, Callable[[Array, Array], WeightedFn | None]] = {
    "accuracy": _accuracy,
    "f1_micro": _accuracy,  # single-label: micro F1 is accuracy
    "f1": _f1_binary,
    "f1_macro": _f1_macro,
    "quadratic_weighted_kappa": _kappa,
    "roc_auc": _roc_auc,
    "log_loss": _log_loss,
    "rmse": _column_errors(_squared, root=True),
    "rmsle": _column_errors(_squared_log, root=True),
    "mean_columnwise_rmsle": _column_errors(_squared_log, root=True),
    "mae": _column_errors(_absolute, root=False),
    "smape": _smape,
    "median_absolute_error": _median_absolute_error,
    "r2": _r2,
    "balanced_log_loss": _balanced_log_loss,
    "normalized_gini": _normalized_gini,
    "mean_columnwise_roc_auc": _roc_auc,  # per column, the mean over defined columns
    "map_at_3": _map_at_3,
}
#: Metrics whose value depends only on the (true, predicted) label pair of each row.
_CELL_METRICS = frozenset({"accuracy", "f1_micro", "f1", "f1_macro", "quadratic_weighted_kappa"})


def _one_by_one(metric: Metric, y_true: Array, y_pred: Array) -> WeightedFn:
    """The metric recomputed on each replicate's rows (a row repeated as often as drawn)."""
    rows = np.arange(np.shape(y_true)[0])

    def score(w: Floats) -> Floats:
        out = np.empty(w.shape[0], dtype=np.float64)
        for i, counts in enumerate(w):
            take = np.repeat(rows, counts.astype(np.int64))
            try:
                out[i] = metric(y_true[take], y_pred[take])
            except GradingError:
                out[i] = np.nan
        return out

    return score


def weighted_scores(metric: Metric, y_true: Array, y_pred: Array) -> WeightedFn:
    """A function of row counts (replicates x rows) giving the metric of each replicate.

    Equal to `metric(y_true[rows], y_pred[rows])` where `rows` repeats each row as often as
    counted (NaN where the metric is undefined), vectorised for the built-in metrics.
    """
    make = _VECTORISED.get(metric.name)
    fn = make(y_true, y_pred) if make is not None else None
    return fn if fn is not None else _one_by_one(metric, y_true, y_pred)


# --------------------------------------------------------------------------- intervals


def _cells(y_true: Array, y_pred: Array) -> tuple[Array, Array, Floats]:
    """The distinct (true, predicted) pairs and how many rows hold each (hash-based: label
    codes take few values, and sorting a million pairs would cost more than the rest)."""
    t_code, t_values = pd.factorize(np.asarray(y_true, dtype=np.float64))
    p_code, p_values = pd.factorize(np.asarray(y_pred, dtype=np.float64))
    width = max(len(p_values), 1)
    counts = np.bincount(t_code * width + p_code, minlength=len(t_values) * width)
    cell = np.flatnonzero(counts)
    t = np.asarray(t_values, dtype=np.float64)[cell // width]
    p = np.asarray(p_values, dtype=np.float64)[cell % width]
    return t, p, counts[cell].astype(np.float64)


def replicate_scores(
    metric: Metric,
    y_true: Array,
    y_pred: Array,
    *,
    replicates: int | None = None,
    seed: int = SEED,
) -> Floats:
    """The metric on each bootstrap replicate of the rows (NaN where it is undefined)."""
    n = int(np.shape(y_true)[0])
    if metric.name in _CELL_METRICS and np.ndim(y_true) == 1:
        t, p, freq = _cells(y_true, y_pred)
        fn = weighted_scores(metric, t, p)
        b = REPLICATES if replicates is None else replicates  # cells: cheap at any size
        draws = np.random.default_rng(seed).multinomial(n, freq / freq.sum(), size=b)
        return fn(draws.astype(np.float64))
    b = replicates_for(n) if replicates is None else replicates
    if metric.name == "roc_auc" and np.ndim(y_true) == 1:
        # The resample ignores row order; rows sorted by score spare each replicate a
        # random gather of a million counts.
        by_score = np.argsort(np.asarray(y_pred, dtype=np.float64))
        y_true, y_pred = np.asarray(y_true)[by_score], np.asarray(y_pred)[by_score]
    if metric.name == "normalized_gini" and np.ndim(y_true) == 1:
        # The same for the Gini: rows in its ranking order (ties keep their row order,
        # so the ranking of the reordered rows is the identity).
        ranked = gini_order(y_pred)
        y_true, y_pred = np.asarray(y_true)[ranked], np.asarray(y_pred)[ranked]
    fn = weighted_scores(metric, y_true, y_pred)
    return np.concatenate([fn(block) for block in bootstrap_counts(n, b, seed)])


def percentile_interval(scores: Floats, level: float = LEVEL) -> tuple[float, float] | None:
    """The central `level` percentile interval of the defined replicates; None when more
    than `MAX_UNDEFINED` of them are undefined."""
    defined = scores[np.isfinite(scores)]
    if scores.size == 0 or defined.size < (1 - MAX_UNDEFINED) * scores.size:
        return None
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(defined, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap(
    metric: Metric,
    y_true: Array,
    y_pred: Array,
    *,
    replicates: int | None = None,
    seed: int = SEED,
) -> Bootstrap | None:
    """Replicate scores and their 95 % interval; None when the metric is mostly undefined."""
    scores = replicate_scores(metric, y_true, y_pred, replicates=replicates, seed=seed)
    found = percentile_interval(scores)
    if found is None:
        return None
    return Bootstrap(scores[np.isfinite(scores)], *found)


def medal_probabilities(
    scores: Floats, thresholds: MedalThresholds, metric: MetricSpec
) -> MedalProbabilities:
    """Share of replicate `scores` at or past each threshold (ties within `TIE_TOLERANCE`
    count, as for the medal itself)."""

    def share(threshold: float) -> float:
        reached = [
            metric.at_or_past(float(s), threshold) or abs(float(s) - threshold) <= TIE_TOLERANCE
            for s in scores
        ]
        return float(np.mean(reached)) if reached else 0.0

    return MedalProbabilities(
        gold=share(thresholds.gold),
        silver=share(thresholds.silver),
        bronze=share(thresholds.bronze),
    )


# --------------------------------------------------------------------------- the board


def _split_normal(centre: Floats, lo: Floats, hi: Floats, z: Floats) -> Floats:
    """Draws through `lo`, `centre`, `hi` (each side its own spread: intervals may lean)."""
    up = (hi - centre) / Z95
    down = (centre - lo) / Z95
    return np.asarray(centre + z * np.where(z > 0, up, down), dtype=np.float64)


def board_mean_interval(
    scores: Sequence[float],
    intervals: Sequence[tuple[float, float] | None],
    *,
    replicates: int = REPLICATES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float, float] | None:
    """Interval of a mean score over episodes: agent seeds and test rows both vary.

    Each replicate draws the episodes again with replacement, then each drawn episode's
    score from its own row bootstrap (a split normal through its interval; an episode
    without one keeps its score). None without episodes.
    """
    centre = np.asarray(scores, dtype=np.float64)
    n = centre.size
    if n == 0:
        return None
    lo = np.array([c if i is None else i[0] for c, i in zip(centre, intervals, strict=True)])
    hi = np.array([c if i is None else i[1] for c, i in zip(centre, intervals, strict=True)])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, n, size=(replicates, n))
    z = rng.standard_normal((replicates, n))
    drawn = _split_normal(centre[pick], lo[pick], hi[pick], z)
    found = percentile_interval(drawn.mean(axis=1), level)
    return found


def board_rate_interval(
    probabilities: Sequence[float],
    *,
    replicates: int = REPLICATES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float, float] | None:
    """Interval of a medal rate over the expected episodes (a missing one: probability 0).

    Each replicate draws the episodes again with replacement, then each drawn episode's
    medal with its own probability (from its row bootstrap).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n = p.size
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, n, size=(replicates, n))
    won = rng.random((replicates, n)) < p[pick]
    return percentile_interval(won.mean(axis=1).astype(np.float64), level)
