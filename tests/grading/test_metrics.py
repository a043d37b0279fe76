"""Every built-in metric against values computed by hand in the test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading.metrics import LOG_LOSS_EPS, METRICS, MetricRegistry, get_metric, metric


def m(name: str, y_true: object, y_pred: object) -> float:
    return get_metric(name)(np.asarray(y_true), np.asarray(y_pred))


# ----------------------------------------------------------------- registry


def test_builtin_names_and_directions() -> None:
    expected = {
        "accuracy": (True, ("label",)),
        "roc_auc": (True, ("probability", "class_probabilities")),
        "log_loss": (False, ("probability", "class_probabilities")),
        "f1": (True, ("label",)),
        "f1_micro": (True, ("label",)),
        "f1_macro": (True, ("label",)),
        "quadratic_weighted_kappa": (True, ("label",)),
        "rmse": (False, ("value",)),
        "rmsle": (False, ("value",)),
        "mae": (False, ("value",)),
        "mean_columnwise_rmsle": (False, ("value",)),
    }
    assert set(expected) <= set(METRICS.names())
    for name, (hib, kinds) in expected.items():
        got = METRICS.get(name)
        assert (got.higher_is_better, got.kinds) == (hib, kinds), name
    assert get_metric("rmsle").nonnegative and get_metric("f1").binary


def test_decorator_registers_into_own_registry() -> None:
    reg = MetricRegistry()

    @metric("max_error", higher_is_better=False, kind="value", registry=reg)
    def max_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Largest absolute error."""
        return float(np.max(np.abs(y_true - y_pred)))

    got = reg.get("max_error")
    assert got(np.array([1.0, 2.0]), np.array([1.5, 5.0])) == 3.0
    assert got.description == "Largest absolute error."
    assert "max_error" in reg and "max_error" not in METRICS and len(reg) == 1


def test_duplicate_name_and_bad_kind_are_refused() -> None:
    reg = MetricRegistry()
    metric("a", higher_is_better=True, kind="label", registry=reg)(lambda t, p: 0.0)
    with pytest.raises(GradingError, match="registered twice"):
        metric("a", higher_is_better=True, kind="label", registry=reg)(lambda t, p: 0.0)
    with pytest.raises(GradingError, match="kind must be one of"):
        metric("b", higher_is_better=True, kind="labels", registry=reg)(  # type: ignore[arg-type]
            lambda t, p: 0.0
        )


def test_unknown_metric_suggests_close_name() -> None:
    with pytest.raises(GradingError, match="Did you mean `roc_auc`"):
        get_metric("roc-auc")


# ----------------------------------------------------------------- label metrics


def test_accuracy() -> None:
    assert m("accuracy", [0, 1, 0, 0], [0, 1, 1, 0]) == 0.75


def test_f1_binary() -> None:
    # tp = 2 (rows 0, 4), fp = 1 (row 2), fn = 1 (row 1): F1 = 2*2 / (2*2 + 1 + 1) = 2/3
    assert m("f1", [1, 1, 0, 0, 1], [1, 0, 1, 0, 1]) == pytest.approx(2 / 3)


def test_f1_micro_equals_pooled_accuracy() -> None:
    assert m("f1_micro", [0, 1, 2, 0], [0, 2, 2, 1]) == pytest.approx(0.5)


def test_f1_macro() -> None:
    # class 0: P=1, R=1/2 -> 2/3; class 1: 0; class 2: P=1/2, R=1 -> 2/3; mean 4/9
    assert m("f1_macro", [0, 1, 2, 0], [0, 2, 2, 1]) == pytest.approx(4 / 9)


def test_quadratic_weighted_kappa() -> None:
    # observed disagreement sum w*O = 1/4, expected sum w*E = 3/4 -> 1 - 1/3
    assert m("quadratic_weighted_kappa", [1, 2, 3], [1, 2, 2]) == pytest.approx(2 / 3)
    assert m("quadratic_weighted_kappa", [1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)


def test_quadratic_weighted_kappa_counts_unused_ratings() -> None:
    # ratings 1..4 (3 unused): sum w*O = 4, sum w*E = 20/3 -> 1 - 12/20 = 0.4
    # (compressing ratings to 1, 2, 3 would give 2/3 instead)
    assert m("quadratic_weighted_kappa", [1, 2, 4], [1, 2, 2]) == pytest.approx(0.4)


# ----------------------------------------------------------------- probabilities


def test_roc_auc_binary() -> None:
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered right
    assert m("roc_auc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_roc_auc_binary_tie_counts_half() -> None:
    assert m("roc_auc", [0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8]) == pytest.approx(3.5 / 4)


def test_roc_auc_multiclass_one_vs_rest_macro() -> None:
    truth = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.6, 0.1], [0.4, 0.2, 0.4]])
    # class A: 4/4 pairs; class B: 2/3; class C: 0.5/3 (one tie, two wrong) -> mean 11/18
    assert m("roc_auc", truth, probs) == pytest.approx(11 / 18)


def test_roc_auc_multiclass_skips_class_without_positives() -> None:
    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]])
    probs = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.3], [0.7, 0.4, 0.3], [0.4, 0.5, 0.3]])
    assert m("roc_auc", truth, probs) == pytest.approx(1.0)


def test_roc_auc_single_class_is_a_grading_error() -> None:
    with pytest.raises(GradingError, match="roc_auc"):
        m("roc_auc", [1, 1], [0.2, 0.3])


def test_log_loss_binary() -> None:
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert m("log_loss", [1, 0], [0.8, 0.4]) == pytest.approx(expected)


def test_log_loss_clips_like_kaggle() -> None:
    assert m("log_loss", [1], [0.0]) == pytest.approx(-math.log(LOG_LOSS_EPS))
    assert m("log_loss", [1, 0], [1.0, 0.0]) == pytest.approx(0.0, abs=1e-12)


def test_log_loss_multiclass_renormalises_rows() -> None:
    truth = np.array([[1, 0, 0], [0, 0, 1]])
    probs = np.array([[0.5, 0.5, 0.5], [0.2, 0.2, 0.6]])  # row 0 -> 1/3 each
    expected = (math.log(3) - math.log(0.6)) / 2
    assert m("log_loss", truth, probs) == pytest.approx(expected)


# ----------------------------------------------------------------- values


def test_rmse() -> None:
    assert m("rmse", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0]) == pytest.approx(math.sqrt(4 / 3))


def test_rmse_several_columns_averages_per_column() -> None:
    truth = np.array([[0.0, 1.0], [0.0, 1.0]])
    pred = np.array([[2.0, 1.0], [0.0, 1.0]])  # column RMSEs sqrt(2), 0
    assert m("rmse", truth, pred) == pytest.approx(math.sqrt(2) / 2)


def test_mae() -> None:
    assert m("mae", [1.0, 2.0, 3.0], [2.0, 2.0, 1.0]) == pytest.approx(1.0)


def test_rmsle() -> None:
    e1 = math.e - 1  # log1p(e - 1) = 1
    assert m("rmsle", [0.0, e1], [e1, e1]) == pytest.approx(math.sqrt(0.5))


def test_mean_columnwise_rmsle() -> None:
    e1 = math.e - 1
    truth = np.array([[0.0, 3.0], [0.0, 3.0]])
    pred = np.array([[e1, 3.0], [e1, 3.0]])  # column RMSLEs 1 and 0
    assert m("mean_columnwise_rmsle", truth, pred) == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["rmsle", "mean_columnwise_rmsle"])
def test_log_errors_reject_negative_predictions(name: str) -> None:
    with pytest.raises(InvalidSubmissionError, match="negative"):
        m(name, [1.0, 2.0], [-0.5, 2.0])


def test_roc_auc_equals_sklearn_on_many_ties() -> None:
    """Our one-sort AUC (`binary_auc`) against sklearn's ROC curve, with heavy ties."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for n, levels in ((50, 5), (2000, 40), (20_000, 20_000)):
        y = rng.integers(0, 2, n)
        p = np.round(rng.random(n) * levels) / levels
        assert m("roc_auc", y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
