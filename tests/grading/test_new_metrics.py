"""The metrics of issue 20 against independent implementations written here as plain loops
over the published formulas, on random and edge inputs, and against the real boards' scale.

Each reference below is written from the competition's evaluation page (Kaggle's formula or
script), not from `mledojo.grading.metrics`: a loop over rows, no shared helper.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from mledojo.errors import GradingError
from mledojo.grading.boards import load_leaderboard
from mledojo.grading.metrics import METRICS, get_metric
from mledojo.testing.shared_data import leaderboards_root, need, need_kaggle


def score(name: str, y_true: object, y_pred: object) -> float:
    return get_metric(name)(np.asarray(y_true), np.asarray(y_pred))


# ----------------------------------------------------------------- references (plain loops)


def ref_apk3(truth: object, guesses: list[object]) -> float:
    """Kaggle's average precision at k=3 with one true label: precision at each hit, a
    guess counted once, divided by min(1, 3)."""
    total, hits = 0.0, 0
    for i, g in enumerate(guesses[:3]):
        if g == truth and g not in guesses[:i]:
            hits += 1
            total += hits / (i + 1)
    return total / 1


def ref_smape(a: list[float], f: list[float]) -> float:
    total = 0.0
    for x, y in zip(a, f, strict=True):
        if x == 0 and y == 0:
            continue
        total += abs(y - x) / ((abs(x) + abs(y)) / 2)
    return 100 * total / len(a)


def ref_balanced_log_loss(y: list[int], p1: list[float]) -> float:
    """ICR's formula: (-1/N0 sum y0 log p0 - 1/N1 sum y1 log p1) / 2, each probability
    clipped to [1e-15, 1 - 1e-15] and the pair rescaled to sum to 1."""
    sums = {0: 0.0, 1: 0.0}
    counts = {0: 0, 1: 0}
    for label, p in zip(y, p1, strict=True):
        q1 = min(max(p, 1e-15), 1 - 1e-15)
        q0 = min(max(1 - p, 1e-15), 1 - 1e-15)
        own = (q1 if label == 1 else q0) / (q0 + q1)
        sums[label] -= math.log(own)
        counts[label] += 1
    present = [c for c in (0, 1) if counts[c]]
    return sum(sums[c] / counts[c] for c in present) / len(present)


def ref_gini(solution: list[float], submission: list[float]) -> float:
    """Liberty Mutual's script: rows sorted on (prediction, -row) descending, the Lorentz
    curve of the solution minus the random line, summed."""
    rows = sorted(
        zip(solution, submission, range(len(solution)), strict=True),
        key=lambda r: (r[1], -r[2]),
        reverse=True,
    )
    total = float(sum(r[0] for r in rows))
    found, out = 0.0, 0.0
    for i, r in enumerate(rows):
        found += r[0]
        out += found / total - (i + 1) / len(rows)
    return out


def ref_normalized_gini(solution: list[float], submission: list[float]) -> float:
    return ref_gini(solution, submission) / ref_gini(solution, solution)


def ref_r2(a: list[float], f: list[float]) -> float:
    mean = sum(a) / len(a)
    res = sum((x - y) ** 2 for x, y in zip(a, f, strict=True))
    tot = sum((x - mean) ** 2 for x in a)
    return 1 - res / tot


def ref_auc(y: list[int], p: list[float]) -> float:
    """Share of (positive, negative) pairs ranked right, ties counting half."""
    pos = [s for s, t in zip(p, y, strict=True) if t == 1]
    neg = [s for s, t in zip(p, y, strict=True) if t == 0]
    won = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return won / (len(pos) * len(neg))


# ----------------------------------------------------------------- registry


def test_new_metrics_are_registered_with_their_direction_and_kind() -> None:
    expected = {
        "map_at_3": (True, ("ranked_labels",)),
        "smape": (False, ("value",)),
        "median_absolute_error": (False, ("value",)),
        "balanced_log_loss": (False, ("probability", "class_probabilities")),
        "normalized_gini": (True, ("value",)),
        "r2": (True, ("value",)),
        "mean_columnwise_roc_auc": (True, ("probability",)),
        "mae": (False, ("value",)),
    }
    for name, (higher, kinds) in expected.items():
        m = METRICS.get(name)
        assert (m.higher_is_better, m.kinds) == (higher, kinds), name


# ----------------------------------------------------------------- random inputs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_at_3_matches_average_precision_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    truth = rng.integers(0, 6, n).astype(float)
    guesses = np.argsort(rng.random((n, 6)), axis=1)[:, :3].astype(float)
    length = rng.integers(1, 4, n)  # some rows name fewer than 3: empty slots come last
    guesses[np.arange(3)[None, :] >= length[:, None]] = np.nan
    ref = [
        ref_apk3(t, [g for g in row if not math.isnan(g)])
        for t, row in zip(truth, guesses, strict=True)
    ]
    assert score("map_at_3", truth, guesses) == pytest.approx(sum(ref) / n, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_metrics_match_their_formulas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, 300).astype(float)  # zeros on both sides, many ties
    f = np.where(rng.random(300) < 0.3, a, rng.integers(0, 5, 300)).astype(float)
    assert score("smape", a, f) == pytest.approx(ref_smape(list(a), list(f)), abs=1e-10)
    assert score("median_absolute_error", a, f) == pytest.approx(
        statistics.median(abs(x - y) for x, y in zip(a, f, strict=True))
    )
    assert score("r2", a, f) == pytest.approx(ref_r2(list(a), list(f)), abs=1e-12)
    g = rng.gamma(1.0, 2.0, 300).round(0)  # a Hazard-like score with ties on both sides
    q = (g + rng.normal(0, 2, 300)).round(0)
    assert score("normalized_gini", g, q) == pytest.approx(
        ref_normalized_gini(list(g), list(q)), abs=1e-12
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probability_metrics_match_their_formulas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(150) < 0.2).astype(int)  # imbalanced, as ICR's Class
    p = np.round(rng.random(150), 1)  # ties
    p[:3] = [0.0, 1.0, 1e-20]  # clipped
    assert score("balanced_log_loss", y, p) == pytest.approx(
        ref_balanced_log_loss(list(y), list(p)), abs=1e-10
    )
    labels = rng.integers(0, 2, (150, 4))
    probs = np.round(rng.random((150, 4)), 1)
    expected = np.mean([ref_auc(list(labels[:, j]), list(probs[:, j])) for j in range(4)])
    assert score("mean_columnwise_roc_auc", labels, probs) == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------- edge inputs


def test_map_at_3_positions_and_empty_slots() -> None:
    truth = [0.0, 1.0, 2.0, 3.0]
    guesses = [[0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 1, 2]]
    assert score("map_at_3", truth, guesses) == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)
    nan = math.nan
    assert score("map_at_3", [1.0, 1.0], [[1, nan, nan], [nan, nan, nan]]) == 0.5


def test_smape_all_zero_terms_are_zero_and_the_range_is_0_to_200() -> None:
    assert score("smape", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]) == 0.0
    assert score("smape", [0.0, 2.0], [0.0, 2.0]) == 0.0
    assert score("smape", [0.0, 0.0], [1.0, -3.0]) == 200.0  # one side 0: the maximum
    assert score("smape", [1.0, 0.0], [3.0, 0.0]) == pytest.approx(50.0)  # (100 + 0) / 2


def test_balanced_log_loss_weighs_classes_equally_and_skips_an_absent_one() -> None:
    # one positive among four: its loss counts as much as the three negatives together
    y, p = [1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]
    assert score("balanced_log_loss", y, p) == pytest.approx(math.log(2))
    unbalanced = [1, 0, 0, 0]
    good_on_negatives = [0.1, 0.1, 0.1, 0.1]
    assert score("balanced_log_loss", unbalanced, good_on_negatives) == pytest.approx(
        (-math.log(0.1) - math.log(0.9)) / 2
    )
    assert score("balanced_log_loss", [0, 0], [0.2, 0.2]) == pytest.approx(-math.log(0.8))
    # clipping: a confident miss costs -log(1e-15), not infinity
    assert score("balanced_log_loss", [1, 0], [0.0, 0.0]) == pytest.approx(
        -math.log(1e-15) / 2, rel=1e-6
    )


def test_normalized_gini_order_only_ties_and_undefined_answers() -> None:
    a = [1.0, 3.0, 0.0, 2.0, 5.0]
    assert score("normalized_gini", a, a) == pytest.approx(1.0)
    assert score("normalized_gini", a, [x * 10 + 7 for x in a]) == pytest.approx(1.0)
    assert score("normalized_gini", a, [-x for x in a]) == pytest.approx(
        ref_normalized_gini(a, [-x for x in a])
    )
    assert score("normalized_gini", a, [-x for x in a]) < 0
    # constant predictions: the ties keep the answers' row order, as Kaggle's script does
    assert score("normalized_gini", a, [1.0] * 5) == pytest.approx(
        ref_normalized_gini(a, [1.0] * 5)
    )
    with pytest.raises(GradingError, match="constant"):
        score("normalized_gini", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(GradingError):
        score("normalized_gini", [0.0, 0.0], [1.0, 2.0])


def test_r2_and_median_error_on_constant_predictions() -> None:
    a = [1.0, 2.0, 3.0, 4.0]
    assert score("r2", a, [2.5] * 4) == pytest.approx(0.0)  # the mean: R² 0
    assert score("r2", a, [0.0] * 4) < 0
    assert score("median_absolute_error", a, [2.0] * 4) == pytest.approx(1.0)  # |.| 1 0 1 2
    assert score("median_absolute_error", [[1.0, 10.0]], [[2.0, 13.0]]) == pytest.approx(2.0)


def test_mean_columnwise_roc_auc_leaves_out_a_one_class_column() -> None:
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    p = np.array([[0.9, 0.3], [0.1, 0.2], [0.4, 0.9], [0.5, 0.1]])
    assert score("mean_columnwise_roc_auc", y, p) == pytest.approx(ref_auc([1, 0, 1, 0], p[:, 0]))
    constant = np.full((4, 2), 0.5)
    assert score("mean_columnwise_roc_auc", y, constant) == 0.5
    with pytest.raises(GradingError, match="no column"):
        score("mean_columnwise_roc_auc", np.zeros((4, 2)), p)


# ----------------------------------------------------------------- the real boards' scale

RANGES = {
    "map_at_3": (0.0, 1.0),
    "smape": (0.0, 200.0),
    "median_absolute_error": (0.0, math.inf),
    "balanced_log_loss": (0.0, math.inf),
    "normalized_gini": (-1.0, 1.0),
    "r2": (-math.inf, 1.0),
    "mean_columnwise_roc_auc": (0.0, 1.0),
    "mae": (0.0, math.inf),
}


def _holdout(competition: str, target: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.read_csv(need_kaggle(competition, "train.csv"), low_memory=False)
    train = train.dropna(subset=target).sample(frac=1.0, random_state=0)
    cut = int(0.8 * len(train))
    return train.iloc[:cut], train.iloc[cut:]


def _constant_score(competition: str, metric: str, target: list[str]) -> float:
    """The metric of a constant prediction (what the sample submission sends) on a holdout
    of the real training rows."""
    fit, held = _holdout(competition, target)
    m = get_metric(metric)
    if metric == "map_at_3":
        top = fit[target[0]].value_counts().index[:3].tolist()
        classes = sorted(fit[target[0]].unique().tolist())
        codes = {c: float(i) for i, c in enumerate(classes)}
        truth = held[target[0]].map(codes).to_numpy(dtype=float)
        guess = np.tile([codes[c] for c in top], (len(held), 1))
        return m(truth, guess)
    if metric in ("mean_columnwise_roc_auc", "balanced_log_loss"):
        truth = held[target].to_numpy(dtype=int)
        truth = truth[:, 0] if len(target) == 1 else truth
        return m(truth, np.full(truth.shape, 0.5))
    truth = held[target[0]].to_numpy(dtype=float)
    return m(truth, np.full(truth.shape, float(np.median(fit[target[0]]))))


BOARDS = [
    ("playground-series-s3e13", "map_at_3", ["prognosis"]),
    ("playground-series-s3e19", "smape", ["num_sold"]),
    ("tabular-playground-series-sep-2022", "smape", ["num_sold"]),
    ("playground-series-s3e25", "median_absolute_error", ["Hardness"]),
    ("icr-identify-age-related-conditions", "balanced_log_loss", ["Class"]),
    ("liberty-mutual-group-property-inspection-prediction", "normalized_gini", ["Hazard"]),
    ("mercedes-benz-greener-manufacturing", "r2", ["y"]),
    (
        "playground-series-s4e3",
        "mean_columnwise_roc_auc",
        ["Pastry", "Z_Scratch", "K_Scatch", "Stains", "Dirtiness", "Bumps", "Other_Faults"],
    ),
    ("playground-series-s3e14", "mae", ["yield"]),
]


@pytest.mark.parametrize(("competition", "metric", "target"), BOARDS)
def test_board_scores_lie_in_the_metric_range_and_beat_a_constant(
    competition: str, metric: str, target: list[str]
) -> None:
    """The board's own numbers fall in the metric's range, and the board's top is better
    than a constant prediction scored by our metric on real rows (same scale, same
    direction); a wrong unit (SMAPE as a fraction) or direction would fail here."""
    board = load_leaderboard(
        need(leaderboards_root() / "mledojo" / competition / "private_leaderboard.csv")
    )
    lo, hi = RANGES[metric]
    assert lo <= float(np.min(board)) and float(np.max(board)) <= hi
    m = get_metric(metric)
    top = float(np.max(board) if m.higher_is_better else np.min(board))
    constant = _constant_score(competition, metric, target)
    assert lo <= constant <= hi
    assert (top > constant) if m.higher_is_better else (top < constant)
    # the constant is no better than most of the board: the same scale as the humans'
    median = float(np.median(board))
    assert (median >= constant) if m.higher_is_better else (median <= constant)
