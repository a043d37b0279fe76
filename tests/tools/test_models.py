"""train_model, get_predictions, evaluate_model, rank_experiments, write_submission on real
data: binary (pump-failure), multiclass and regression (Kaggle playground CSVs)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from mledojo.grading.metrics import METRICS as GRADING_METRICS
from mledojo.tools._base import ToolArgumentError
from mledojo.tools._metrics import METRICS

from .conftest import Box, copy_kaggle, kaggle_dir

ALGORITHMS = {
    "xgboost": {"n_estimators": 30, "max_depth": 3},
    "lightgbm": {"n_estimators": 30, "num_leaves": 15},
    "random_forest": {"n_estimators": 20, "max_depth": 8},
    "gradient_boosting": {"max_iter": 30},
}


def _pump_features(box: Box) -> dict[str, str]:
    split = box.call(
        "split_dataset", path="/data/train.csv", target="failure_24h", kind="time",
        time_column="timestamp", group_column="pump_id", id_column="id",
    )  # fmt: skip
    parts = split["parts"]
    out = box.call(
        "engineer_features", train=parts["train"]["path"],
        apply_to=[parts["valid"]["path"], "/data/test.csv"],
        rolling=[{"column": "vibration_mm_s", "windows": [12], "stats": ["mean", "std"]}],
        encode=[{"column": "pump_size", "method": "onehot"}], drop=["pump_id"],
    )  # fmt: skip
    return {k: v["path"] for k, v in out["outputs"].items()}


@pytest.mark.slow
def test_every_algorithm_trains_evaluates_and_ranks_on_pump_failure(box: Box) -> None:
    feats = _pump_features(box)
    scores = {}
    for algorithm, params in {**ALGORITHMS, "logistic_regression": {"C": 0.5}}.items():
        trained = box.call(
            "train_model", train=feats["train"], algorithm=algorithm, params=params, name=algorithm
        )
        assert trained["task"] == "binary" and trained["n_features"] > 10
        ev = box.call("evaluate_model", model=algorithm, data=feats["valid"], metric="roc_auc")
        assert ev["in_sample"] is False and ev["role"] == "valid"
        assert sum(map(sum, ev["confusion_matrix"]["rows_true_cols_pred"])) == ev["rows"]
        assert len(ev["threshold_analysis"]["table"]) == 9
        scores[algorithm] = ev["score"]
    assert all(s > 0.6 for s in scores.values()), scores  # real signal, not chance
    ranked = box.call("rank_experiments", metric="roc_auc")
    assert [r["model"] for r in ranked["ranking"]] == sorted(scores, key=lambda a: -scores[a])
    # a lower-is-better metric ranks the other way round
    by_loss = box.call("rank_experiments", metric="log_loss")["ranking"]
    losses = [r["score"] for r in by_loss]
    assert losses == sorted(losses)


def test_in_sample_evaluations_are_flagged_and_never_ranked(box: Box) -> None:
    feats = _pump_features(box)
    box.call(
        "train_model",
        train=feats["train"],
        algorithm="lightgbm",
        params={"n_estimators": 50},
        name="overfit",
    )
    ev = box.call("evaluate_model", model="overfit", data=feats["train"])
    assert ev["in_sample"] is True and "not ranked" in ev["warning"]
    ranked = box.call("rank_experiments", metric="roc_auc")
    assert ranked["ranking"] == [] and ranked["excluded"]["in_sample"] == 1


def test_overlapping_rows_are_in_sample_however_the_tables_were_derived(box: Box) -> None:
    split = box.call("split_dataset", path="/data/train.csv", target="failure_24h")
    parts = {k: v["path"] for k, v in split["parts"].items()}
    common = {"algorithm": "lightgbm", "params": {"n_estimators": 5}, "exclude": ["id"]}
    # trained on the whole file, evaluated on a part of it
    box.call("train_model", train="/data/train.csv", target="failure_24h", name="whole", **common)
    assert box.call("evaluate_model", model="whole", data=parts["valid"])["in_sample"] is True
    # trained on a resampled copy of the train part, evaluated on the train part
    box.call("resample_dataset", path=parts["train"], method="undersample", name="rs")
    box.call("train_model", train="/workspace/tools/rs.parquet", name="rs_model", **common)
    assert box.call("evaluate_model", model="rs_model", data=parts["train"])["in_sample"] is True
    # trained on the train part, evaluated on the file it was split from
    box.call("train_model", train=parts["train"], name="part", **common)
    assert box.call("evaluate_model", model="part", data="/data/train.csv")["in_sample"] is True
    # the honest evaluation is not flagged
    assert box.call("evaluate_model", model="part", data=parts["valid"])["in_sample"] is False


def test_evaluations_on_different_tables_are_not_compared(box: Box) -> None:
    feats = _pump_features(box)
    box.call(
        "train_model",
        train=feats["train"],
        algorithm="lightgbm",
        params={"n_estimators": 10},
        name="m",
    )
    box.call("evaluate_model", model="m", data=feats["valid"])
    other = pd.read_parquet(box.workspace / feats["valid"].removeprefix("/workspace/")).iloc[::2]
    other.to_parquet(box.workspace / "half.parquet")
    box.call("evaluate_model", model="m", data="half.parquet")
    with pytest.raises(ToolArgumentError, match="not comparable: pass `data`"):
        box.call("rank_experiments", metric="roc_auc")
    only = box.call("rank_experiments", metric="roc_auc", data="half.parquet")
    assert len(only["ranking"]) == 1 and only["excluded"]["other_data"] == 1


def test_retraining_a_model_name_drops_its_old_evaluations(box: Box) -> None:
    feats = _pump_features(box)
    common = {"train": feats["train"], "algorithm": "lightgbm", "name": "m"}
    box.call("train_model", params={"n_estimators": 50}, **common)
    box.call("evaluate_model", model="m", data=feats["valid"])
    box.call("train_model", params={"n_estimators": 2}, **common)
    with pytest.raises(ToolArgumentError, match="no evaluations recorded yet"):
        box.call("rank_experiments", metric="roc_auc")
    box.call("evaluate_model", model="m", data=feats["valid"])
    (entry,) = box.call("rank_experiments", metric="roc_auc")["ranking"]
    assert entry["params"]["n_estimators"] == 2


def test_training_on_a_validation_or_test_part_is_refused(box: Box) -> None:
    feats = _pump_features(box)
    for part in ("valid", "test"):
        with pytest.raises(ToolArgumentError, match=f"is a {part} part; models are trained"):
            box.call("train_model", train=feats[part], algorithm="xgboost", target="failure_24h")


@pytest.mark.parametrize(
    ("algorithm", "params", "message"),
    [
        (
            "xgboost",
            {"max_depth": 100},
            r"`params.max_depth` \(xgboost\): 100 is outside.*\[1, 16\]",
        ),
        ("xgboost", {"learning_rate": 0}, r"`params.learning_rate`.*\[0.0001, 1\]"),
        ("lightgbm", {"n_estimators": 2.5}, r"`params.n_estimators`.*not an integer"),
        ("lightgbm", {"num_leaves": "many"}, r"`params.num_leaves`.*not a number"),
        (
            "lightgbm",
            {"max_dept": 3},
            r"`params.max_dept`: lightgbm takes no such parameter; allowed: .*max_depth",
        ),
        (
            "random_forest",
            {"max_features": "all"},
            r"`params.max_features`.*one of 'sqrt', 'log2', None",
        ),
        ("random_forest", {"n_estimators": True}, r"`params.n_estimators`.*not a number"),
        ("logistic_regression", {"C": -1}, r"`params.C`.*outside"),
        ("linear_regression", {}, r"linear_regression is for regression; use logistic_regression"),
        ("svm", {}, r"argument `algorithm`"),
    ],
)
def test_hyperparameters_are_validated_with_the_allowed_range(
    box: Box, algorithm: str, params: dict, message: str
) -> None:  # type: ignore[type-arg]
    with pytest.raises(ToolArgumentError, match=message):
        box.call(
            "train_model",
            train="/data/train.csv",
            target="failure_24h",
            algorithm=algorithm,
            params=params,
        )


def test_text_features_are_refused_with_the_fix(box: Box) -> None:
    with pytest.raises(ToolArgumentError, match="non-numeric feature.*pump_size.*encode"):
        box.call(
            "train_model",
            train="/data/train.csv",
            target="failure_24h",
            algorithm="xgboost",
            features=["pump_size", "load_pct"],
        )
    with pytest.raises(ToolArgumentError, match="target 'failure_24h' cannot be a feature"):
        box.call(
            "train_model",
            train="/data/train.csv",
            target="failure_24h",
            algorithm="xgboost",
            features=["failure_24h"],
        )


@pytest.mark.slow  # every algorithm on a Kaggle table: 17 s idle, 43 s on the loaded machine
def test_multiclass_on_a_kaggle_table(box: Box) -> None:
    copy_kaggle(box, "playground-series-s3e22")
    split = box.call("split_dataset", path="/data/train.csv", target="outcome", id_column="id")
    parts = {k: v["path"] for k, v in split["parts"].items()}
    text = [
        c
        for c, p in box.call("profile_dataset", path=parts["train"])["column_profiles"].items()
        if p["kind"] in ("categorical", "text") and c != "outcome"
    ]
    feats = box.call(
        "engineer_features",
        train=parts["train"],
        apply_to=[parts["valid"]],
        encode=[{"column": c, "method": "ordinal"} for c in text],
    )
    f = {k: v["path"] for k, v in feats["outputs"].items()}
    for algorithm, params in {**ALGORITHMS, "logistic_regression": {}}.items():
        out = box.call(
            "train_model",
            train=f["train"],
            algorithm=algorithm,
            params=params,
            name=algorithm,
            exclude=["id"],
        )
        assert out["task"] == "multiclass" and len(out["classes"]) == 3
        ev = box.call("evaluate_model", model=algorithm, data=f["valid"], metric="f1_micro")
        assert 0.4 < ev["score"] <= 1.0 and "f1" not in ev["metrics"]  # binary-only F1 is absent
        assert len(ev["confusion_matrix"]["labels"]) == 3
    preds = box.call("get_predictions", model="lightgbm", data=f["valid"])
    frame = pd.read_parquet(box.workspace / preds["path"].removeprefix("/workspace/"))
    np.testing.assert_allclose(frame[["proba_0", "proba_1", "proba_2"]].sum(axis=1), 1.0, rtol=1e-6)
    assert set(frame["prediction"]) <= set(pd.read_csv(box.data / "train.csv")["outcome"])


@pytest.mark.slow
def test_regression_on_a_kaggle_table(box: Box) -> None:
    copy_kaggle(box, "playground-series-s3e9")
    split = box.call("split_dataset", path="/data/train.csv", target="Strength", id_column="id")
    parts = {k: v["path"] for k, v in split["parts"].items()}
    baseline = pd.read_parquet(box.workspace / parts["valid"].removeprefix("/workspace/"))[
        "Strength"
    ].std()
    for algorithm, params in {**ALGORITHMS, "linear_regression": {"alpha": 1.0}}.items():
        out = box.call(
            "train_model",
            train=parts["train"],
            algorithm=algorithm,
            params=params,
            name=algorithm,
            exclude=["id"],
        )
        assert out["task"] == "regression"
        ev = box.call("evaluate_model", model=algorithm, data=parts["valid"], metric="rmse")
        assert ev["score"] < baseline  # better than predicting the mean
        assert "confusion_matrix" not in ev and "roc_auc" not in ev["metrics"]
    with pytest.raises(ToolArgumentError, match="logistic_regression is for classification"):
        box.call("train_model", train=parts["train"], algorithm="logistic_regression")
    assert box.call("rank_experiments", metric="mae")["best"] is not None


def test_tool_metrics_agree_with_the_grader() -> None:
    """The tools' metrics reimplement mledojo.grading's (which the sandbox cannot import)."""
    assert set(METRICS) == set(GRADING_METRICS.names())
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    labels = (p > 0.5).astype(int)
    ordinal_true, ordinal_pred = rng.integers(3, 9, 300), rng.integers(3, 9, 300)
    values_true, values_pred = rng.random(300) * 10, rng.random(300) * 10
    cases = {
        "accuracy": (y, labels), "roc_auc": (y, p), "log_loss": (y, p), "f1": (y, labels),
        "f1_micro": (y, labels), "f1_macro": (y, labels),
        "quadratic_weighted_kappa": (ordinal_true, ordinal_pred),
        "rmse": (values_true, values_pred), "rmsle": (values_true, values_pred),
        "mae": (values_true, values_pred),
        "mean_columnwise_rmsle": (np.c_[values_true, values_pred], np.c_[values_pred, values_true]),
        "median_absolute_error": (values_true, values_pred), "r2": (values_true, values_pred),
        "smape": (np.r_[values_true, 0.0], np.r_[values_pred, 0.0]),
        "normalized_gini": (values_true, values_pred), "balanced_log_loss": (y, p),
        "mean_columnwise_roc_auc": (np.c_[y, 1 - y], np.c_[p, 1 - p ** 2]),
        "map_at_3": (ordinal_true, np.c_[ordinal_pred, ordinal_true, ordinal_pred + 1]),
    }  # fmt: skip
    assert set(cases) == set(METRICS)
    for name, (a, b) in cases.items():
        ours = METRICS[name]
        theirs = GRADING_METRICS.get(name)
        assert ours.higher_is_better == theirs.higher_is_better, name
        assert ours.fn(a, b) == pytest.approx(theirs(a, b), rel=1e-9), name


def test_submission_follows_the_sample_and_the_metric(box: Box) -> None:
    feats = _pump_features(box)
    box.call(
        "train_model",
        train=feats["train"],
        algorithm="lightgbm",
        params={"n_estimators": 20},
        name="m",
    )
    out = box.call(
        "write_submission",
        model="m",
        data=feats["test"],
        sample_submission="/data/sample_submission.csv",
        metric="roc_auc",
    )
    sub = pd.read_csv(box.workspace / "submission.csv")
    sample = pd.read_csv(box.data / "sample_submission.csv")
    assert list(sub.columns) == list(sample.columns) and (sub["id"] == sample["id"]).all()
    assert out["prediction"] == "probability" and sub["failure_24h"].between(0, 1).all()
    assert sub["failure_24h"].nunique() > 10
    # labels for a label metric
    box.call(
        "write_submission", model="m", data=feats["test"], metric="accuracy", output="labels.csv"
    )
    assert set(pd.read_csv(box.workspace / "labels.csv")["failure_24h"]) <= {0, 1}
    # the validation part is not the test set
    with pytest.raises(ToolArgumentError, match="valid part; a submission predicts"):
        box.call("write_submission", model="m", data=feats["valid"])
    # nor is any other table whose ids differ from the sample's
    part = pd.read_parquet(box.workspace / feats["test"].removeprefix("/workspace/")).iloc[5:]
    part.to_parquet(box.workspace / "fewer.parquet")
    with pytest.raises(ToolArgumentError, match="ids are not the .* ids of the sample"):
        box.call(
            "write_submission",
            model="m",
            data="fewer.parquet",
            sample_submission="/data/sample_submission.csv",
        )


def test_submission_of_boolean_labels_on_spaceship_titanic(box: Box) -> None:
    copy_kaggle(box, "spaceship-titanic")
    shutil.copy(kaggle_dir("spaceship-titanic") / "test.csv", box.data / "test.csv")
    split = box.call(
        "split_dataset", path="/data/train.csv", target="Transported", id_column="PassengerId"
    )
    parts = {k: v["path"] for k, v in split["parts"].items()}
    enc = [
        {"column": c, "method": "onehot"} for c in ("HomePlanet", "CryoSleep", "Destination", "VIP")
    ]
    feats = box.call(
        "engineer_features",
        train=parts["train"],
        apply_to=[parts["valid"], "/data/test.csv"],
        encode=enc,
        drop=["Name", "Cabin"],
    )
    f = {k: v["path"] for k, v in feats["outputs"].items()}
    box.call(
        "train_model", train=f["train"], algorithm="xgboost", params={"n_estimators": 50}, name="st"
    )
    ev = box.call("evaluate_model", model="st", data=f["valid"], metric="accuracy")
    assert ev["score"] > 0.7
    with pytest.raises(ToolArgumentError, match="valid part; a submission predicts"):
        box.call("write_submission", model="st", data=f["valid"], metric="accuracy")
    box.call("write_submission", model="st", data=f["test"], metric="accuracy")
    sub = pd.read_csv(box.workspace / "submission.csv")
    assert len(sub) == len(pd.read_csv(box.data / "test.csv"))
    assert list(sub.columns) == ["PassengerId", "Transported"] and set(sub["Transported"]) <= {
        True,
        False,
    }


def test_a_whole_number_target_with_a_wide_range_evaluates(box: Box) -> None:
    """Case counts are whole numbers over 10^5 levels: not ratings, no kappa matrix.

    The kappa's weight matrix was built over every level, so evaluate_model ran out of
    memory on such a table and the MLE-Bot failed every experiment.
    """
    raw = pd.read_csv(kaggle_dir("covid19-global-forecasting-week-1") / "train.csv")
    raw = raw[["Id", "Lat", "Long", "ConfirmedCases"]]
    assert raw["ConfirmedCases"].max() > 10 * 1000  # the range that broke it
    raw.to_csv(box.data / "train.csv", index=False)
    split = box.call(
        "split_dataset", path="/data/train.csv", target="ConfirmedCases", id_column="Id"
    )
    parts = {k: v["path"] for k, v in split["parts"].items()}
    params = {"n_estimators": 10, "max_depth": 6}
    box.call(
        "train_model", train=parts["train"], algorithm="random_forest", params=params,
        name="forest", exclude=["Id"],
    )  # fmt: skip
    ev = box.call("evaluate_model", model="forest", data=parts["valid"], metric="rmse")
    assert ev["score"] is not None and ev["score"] > 0
    assert ev["metrics"]["quadratic_weighted_kappa"] is None
