"""Bootstrap intervals: exact against a straightforward loop, and honest on known truth.

The reference computation rebuilds each replicate's rows one by one in Python and calls
the registered metric (sklearn underneath); the vectorised forms must agree with it on the
same row counts, for every metric the library has. Coverage is checked on synthetic data
whose true value is known.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mledojo.competition import MetricSpec
from mledojo.errors import GradingError
from mledojo.grading import intervals as iv
from mledojo.grading.metrics import METRICS, Array, Metric, get_metric
from mledojo.grading.rank import MedalThresholds


def _data(metric: Metric, n: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Inputs shaped as `scoring.metric_inputs` gives them for the metric's first kind."""
    kind = metric.kinds[0]
    if metric.binary:
        return rng.integers(0, 2, n), rng.integers(0, 2, n)
    if kind == "label":
        t = rng.integers(0, 4, n).astype(np.float64)
        t[0] = 4.0  # a class on one row: many replicates lack it
        wrong = rng.random(n) < 0.4
        return t, np.where(wrong, rng.integers(0, 4, n), t).astype(np.float64)
    if kind == "probability":
        t = rng.integers(0, 2, n)
        return t, np.round(np.clip(0.3 * t + 0.7 * rng.random(n), 0, 1), 2)  # with ties
    if kind == "ranked_labels":  # three distinct guesses of five classes, some left empty
        t = rng.integers(0, 5, n).astype(np.float64)
        guesses = np.argsort(rng.random((n, 5)), axis=1)[:, :3].astype(np.float64)
        guesses[rng.random((n, 3)) < 0.2] = np.nan
        return t, guesses
    if kind == "class_probabilities":
        t = np.eye(3)[rng.integers(0, 3, n)]
        p = rng.random((n, 3)) + t
        return t, p / p.sum(axis=1, keepdims=True)
    t = rng.gamma(2.0, 2.0, n)
    return t, np.abs(t + rng.normal(0, 1, n))


def _reference(metric: Metric, y_true: Array, y_pred: Array, counts: np.ndarray) -> list[float]:
    """Each replicate's rows listed one by one, then the registered metric on them."""
    out = []
    for replicate in counts:
        rows = []
        for i, c in enumerate(replicate):
            for _ in range(int(c)):
                rows.append(i)
        try:
            out.append(metric(y_true[rows], y_pred[rows]))
        except GradingError:
            out.append(math.nan)
    return out


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_matches_the_loop_reference(name: str) -> None:
    metric = get_metric(name)
    rng = np.random.default_rng(7)
    y_true, y_pred = _data(metric, 80, rng)
    counts = next(iv.bootstrap_counts(80, 30, seed=3))
    ours = iv.weighted_scores(metric, y_true, y_pred)(counts)
    np.testing.assert_allclose(ours, _reference(metric, y_true, y_pred, counts), atol=1e-10)
    assert iv.weighted_scores(metric, y_true, y_pred)(np.ones((1, 80)))[0] == pytest.approx(
        metric(y_true, y_pred), abs=1e-10
    )


def test_multi_target_errors_and_multiclass_auc_match_the_loop_reference() -> None:
    rng = np.random.default_rng(11)
    t = rng.gamma(2.0, 1.0, (60, 3))
    p = np.abs(t + rng.normal(0, 0.5, (60, 3)))
    counts = next(iv.bootstrap_counts(60, 20, seed=1))
    for name in ("rmse", "mae", "rmsle", "mean_columnwise_rmsle"):
        m = get_metric(name)
        np.testing.assert_allclose(
            iv.weighted_scores(m, t, p)(counts), _reference(m, t, p, counts), atol=1e-10
        )
    auc = get_metric("roc_auc")  # a rare class: some replicates lack it, it drops out
    truth = np.eye(3)[np.r_[np.zeros(30, int), np.ones(28, int), [2, 2]]]
    prob = rng.random((60, 3))
    np.testing.assert_allclose(
        iv.weighted_scores(auc, truth, prob)(counts),
        _reference(auc, truth, prob, counts),
        atol=1e-10,
    )


def test_new_metrics_on_several_columns_ties_and_rare_classes_match_the_loop_reference() -> None:
    """Multi-label AUC with a rare column, Gini and the median with many ties, r2 and SMAPE
    on two columns with zeros, balanced log loss with a rare class."""
    rng = np.random.default_rng(5)
    n = 60
    counts = next(iv.bootstrap_counts(n, 25, seed=8))
    labels = rng.integers(0, 2, (n, 3))
    labels[:, 2] = 0
    labels[:2, 2] = 1  # a rare column: some replicates lack it, it drops out
    cases = {
        "mean_columnwise_roc_auc": (labels, rng.integers(0, 4, (n, 3)) / 4),
        "normalized_gini": (rng.integers(0, 3, n).astype(float), rng.integers(0, 3, n) / 2),
        "median_absolute_error": (rng.integers(0, 4, (n, 2)) / 2, rng.integers(0, 4, (n, 2)) / 2),
        "r2": (rng.normal(size=(n, 2)), rng.normal(size=(n, 2))),
        "smape": (rng.integers(0, 3, (n, 2)).astype(float), rng.integers(0, 3, (n, 2)) * 1.0),
        "balanced_log_loss": (np.r_[np.ones(3, int), np.zeros(n - 3, int)], rng.random(n)),
    }
    for name, (t, p) in cases.items():
        m = get_metric(name)
        np.testing.assert_allclose(
            iv.weighted_scores(m, t, p)(counts),
            _reference(m, t, p, counts),
            atol=1e-10,
            err_msg=name,
        )


def test_non_integer_ratings_and_plug_in_metrics_are_recomputed_per_replicate() -> None:
    kappa = get_metric("quadratic_weighted_kappa")
    t = np.array([0.5, 1.5, 2.5, 1.5, 0.5, 2.5] * 5)
    p = np.roll(t, 1)
    counts = next(iv.bootstrap_counts(30, 10, seed=2))
    np.testing.assert_allclose(
        iv.weighted_scores(kappa, t, p)(counts), _reference(kappa, t, p, counts), atol=1e-10
    )
    median_error = Metric(
        name="median_abs_error",
        higher_is_better=False,
        kinds=("value",),
        fn=lambda a, b: float(np.median(np.abs(np.asarray(a) - np.asarray(b)))),
    )
    rng = np.random.default_rng(0)
    y, q = rng.random(30), rng.random(30)
    np.testing.assert_allclose(
        iv.weighted_scores(median_error, y, q)(counts),
        _reference(median_error, y, q, counts),
    )


def test_counts_are_seeded_and_independent_of_the_block_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = np.vstack(list(iv.bootstrap_counts(50, 12, seed=5)))
    monkeypatch.setattr(iv, "BLOCK_CELLS", 120)  # blocks of two replicates
    np.testing.assert_array_equal(np.vstack(list(iv.bootstrap_counts(50, 12, seed=5))), whole)
    assert whole.shape == (12, 50) and (whole.sum(axis=1) == 50).all()
    other = np.vstack(list(iv.bootstrap_counts(50, 12, seed=6)))
    assert not np.array_equal(other, whole)


def test_label_metrics_draw_confusion_cells_with_the_row_bootstrap_spread() -> None:
    """Cells drawn by one multinomial: the accuracy replicates spread as a binomial does."""
    n, p = 400, 0.8
    t = np.zeros(n)
    pred = np.r_[np.zeros(int(n * p)), np.ones(n - int(n * p))]
    scores = iv.replicate_scores(get_metric("accuracy"), t, pred, replicates=4000, seed=1)
    assert scores.mean() == pytest.approx(p, abs=0.003)
    assert scores.std() == pytest.approx(math.sqrt(p * (1 - p) / n), rel=0.06)


def _coverage(metric: Metric, draw: object, truth: float, datasets: int, b: int) -> float:
    rng = np.random.default_rng(2026)
    hits = 0
    for k in range(datasets):
        y_true, y_pred = draw(rng)  # type: ignore[operator]
        found = iv.bootstrap(metric, y_true, y_pred, replicates=b, seed=k)
        assert found is not None
        hits += found.lo <= truth <= found.hi
    return hits / datasets


def test_coverage_on_synthetic_data_with_known_truth() -> None:
    """About 95 % of intervals hold the true value (percentile bootstrap, n = 300)."""

    def accuracy_data(rng: np.random.Generator) -> tuple[Array, Array]:
        t = rng.integers(0, 2, 300).astype(np.float64)
        return t, np.where(rng.random(300) < 0.8, t, 1 - t)

    def rmse_data(rng: np.random.Generator) -> tuple[Array, Array]:
        t = rng.random(300)
        return t, t + rng.normal(0, 1, 300)  # true RMSE: 1

    def auc_data(rng: np.random.Generator) -> tuple[Array, Array]:
        t = rng.integers(0, 2, 300)
        return t, t + rng.normal(0, 1, 300)  # true AUC: Phi(1 / sqrt(2))

    true_auc = 0.5 * (1 + math.erf(0.5))
    cov_acc = _coverage(get_metric("accuracy"), accuracy_data, 0.8, 300, 500)
    cov_rmse = _coverage(get_metric("rmse"), rmse_data, 1.0, 150, 300)
    cov_auc = _coverage(get_metric("roc_auc"), auc_data, true_auc, 150, 300)
    assert 0.9 <= cov_acc <= 0.99, cov_acc
    assert 0.88 <= cov_rmse <= 0.99, cov_rmse
    assert 0.88 <= cov_auc <= 0.99, cov_auc


def test_undefined_replicates_are_dropped_and_too_many_give_no_interval() -> None:
    auc = get_metric("roc_auc")
    y = np.r_[np.zeros(40), [1.0]]  # one positive: most replicates have none
    assert iv.bootstrap(auc, y, np.linspace(0, 1, 41), replicates=200) is None
    y2 = np.r_[np.zeros(30), np.ones(30)]
    found = iv.bootstrap(auc, y2, np.linspace(0, 1, 60), replicates=200)
    assert found is not None and found.lo <= 1.0 <= found.hi + 1e-12


@pytest.mark.parametrize("higher", [True, False])
def test_medal_probabilities_are_shares_at_or_past_each_threshold(higher: bool) -> None:
    spec = MetricSpec(name="m", higher_is_better=higher)
    scores = np.random.default_rng(0).normal(0.5, 0.1, 500)
    sign = 1 if higher else -1
    t = MedalThresholds(gold=0.5 + sign * 0.1, silver=0.5 + sign * 0.05, bronze=0.5, median=0.4)
    got = iv.medal_probabilities(scores, t, spec)
    for name in ("gold", "silver", "bronze"):
        thr = getattr(t, name)
        reached = 0
        for s in scores:
            if (s >= thr) if higher else (s <= thr):
                reached += 1
        assert getattr(got, name) == pytest.approx(reached / 500)
    assert got.gold <= got.silver <= got.bronze
    exact = iv.medal_probabilities(np.array([0.5 + 1e-12]), t, spec)
    assert exact.bronze == 1.0  # a tie within the tolerance counts, as for the medal


def test_board_intervals_match_a_loop_with_the_same_draws() -> None:
    scores = [0.7, 0.8, 0.75, 0.9]
    intervals: list[tuple[float, float] | None] = [(0.6, 0.75), (0.7, 0.85), None, (0.8, 1.0)]
    got = iv.board_mean_interval(scores, intervals, replicates=300, seed=4)
    rng = np.random.default_rng(4)
    pick = rng.integers(0, 4, size=(300, 4))
    z = rng.standard_normal((300, 4))
    means = []
    for b in range(300):
        total = 0.0
        for j in range(4):
            e = int(pick[b, j])
            c, i = scores[e], intervals[e]
            lo, hi = (c, c) if i is None else i
            spread = (hi - c) if z[b, j] > 0 else (c - lo)
            total += c + z[b, j] * spread / iv.Z95
        means.append(total / 4)
    assert got == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))

    probs = [0.9, 0.1, 0.0, 0.5]
    rate = iv.board_rate_interval(probs, replicates=300, seed=4)
    rng = np.random.default_rng(4)
    pick = rng.integers(0, 4, size=(300, 4))
    u = rng.random((300, 4))
    rates = [sum(u[b, j] < probs[int(pick[b, j])] for j in range(4)) / 4 for b in range(300)]
    assert rate == pytest.approx(tuple(np.percentile(rates, [2.5, 97.5])))


def test_board_interval_covers_the_true_mean_of_seeds_and_rows() -> None:
    """Episodes: an agent-seed effect (sd 0.05) plus row noise (sd 0.03, known to each
    episode as its interval). The two-level interval covers the agent's true mean."""
    rng = np.random.default_rng(9)
    hits, trials = 0, 200
    for k in range(trials):
        seed_effect = 0.7 + rng.normal(0, 0.05, 8)
        observed = seed_effect + rng.normal(0, 0.03, 8)
        ints = [(o - iv.Z95 * 0.03, o + iv.Z95 * 0.03) for o in observed]
        found = iv.board_mean_interval(list(observed), ints, replicates=400, seed=k)
        assert found is not None
        hits += found[0] <= 0.7 <= found[1]
    assert 0.85 <= hits / trials <= 0.99  # 8 episodes: the bootstrap is a bit narrow


def test_grade_report_carries_the_interval_and_medal_probabilities() -> None:
    import pandas as pd

    from mledojo.grading.scoring import grade_report

    from .conftest import make_spec

    spec = make_spec(metric={"name": "accuracy", "higher_is_better": True})
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    answers = pd.DataFrame({"id": range(400), "y": y, "usage": "private"})
    pred = np.where(rng.random(400) < 0.8, y, 1 - y)
    sub = pd.DataFrame({"id": range(400), "y": pred})
    board = list(np.linspace(0.6, 0.9, 40))
    report = grade_report(spec, sub, answers, leaderboard=board)
    assert report.interval is not None and report.medal_probabilities is not None
    lo, hi = report.interval
    assert lo < report.score < hi and hi - lo < 0.1
    probs = report.medal_probabilities
    assert 0 <= probs.gold <= probs.silver <= probs.bronze <= 1
    assert 0 < probs.bronze < 1  # the score sits among the medal bands: uncertain
    again = grade_report(spec, sub, answers, leaderboard=board)
    assert again.interval == report.interval  # seeded
    bare = grade_report(spec, sub, answers, leaderboard=board, interval=False)
    assert bare.interval is None and bare.medal_probabilities is None


def test_kappa_on_a_thousand_levels_needs_no_levels_squared_matrix() -> None:
    """Kappa allows 1,000 rating levels: a levels x levels matrix per replicate would hold
    a million cells; the interval uses row means and matches the loop reference."""
    kappa = get_metric("quadratic_weighted_kappa")
    rng = np.random.default_rng(5)
    t = rng.integers(0, 1000, 3000).astype(np.float64)
    p = np.clip(t + rng.integers(-50, 51, 3000), 0, 999).astype(np.float64)
    found = iv.bootstrap(kappa, t, p, replicates=300)
    assert found is not None and found.lo <= kappa(t, p) <= found.hi
    counts = next(iv.bootstrap_counts(3000, 3, seed=1))
    np.testing.assert_allclose(
        iv.weighted_scores(kappa, t, p)(counts), _reference(kappa, t, p, counts), atol=1e-10
    )


def test_gini_replicates_on_rows_in_ranking_order_equal_the_loop_reference() -> None:
    """`replicate_scores` reorders the rows by the Gini's ranking (ties by row order) to
    spare a gather: each replicate equals the metric on the same draws of those rows."""
    rng = np.random.default_rng(9)
    t = rng.integers(0, 4, 70).astype(float)
    p = rng.integers(0, 3, 70).astype(float)  # many tied predictions
    gini = get_metric("normalized_gini")
    ranked = np.argsort(-p, kind="stable")
    counts = next(iv.bootstrap_counts(70, 40, seed=6))
    np.testing.assert_allclose(
        iv.replicate_scores(gini, t, p, replicates=40, seed=6),
        _reference(gini, t[ranked], p[ranked], counts),
        atol=1e-10,
    )
