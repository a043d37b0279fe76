"""End-to-end grading: validation, parts of the test set, metric inputs, reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mledojo.competition import CompetitionSpec
from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading import GradeReport, grade, grade_report
from mledojo.grading.scoring import label_codes, report_for_score
from mledojo.testing.shared_data import shared_root

from .conftest import make_spec as toy_spec


def make_spec(**over: Any) -> CompetitionSpec:
    """The toy spec, scored by accuracy unless told otherwise."""
    return toy_spec(**{"metric": {"name": "accuracy", "higher_is_better": True}, **over})


def shared_dir() -> Path:
    return shared_root()


# ----------------------------------------------------------------- parts


ANSWERS = pd.DataFrame(
    {
        "id": [10, 11, 12, 13],
        "y": ["a", "b", "a", "b"],
        "usage": ["public", "public", "private", "private"],
    }
)
SUB = pd.DataFrame({"id": [13, 12, 11, 10], "y": ["b", "b", "b", "a"]})  # wrong on id 12 only


def test_score_uses_only_the_requested_part() -> None:
    spec = make_spec(task="multiclass")
    assert grade(spec, SUB, ANSWERS, part="public") == 1.0
    assert grade(spec, SUB, ANSWERS, part="private") == 0.5
    assert grade(spec, SUB, ANSWERS) == 0.5  # private by default
    assert grade(spec, SUB, ANSWERS, part="all") == 0.75


def test_submission_must_cover_all_parts() -> None:
    with pytest.raises(InvalidSubmissionError, match="missing"):
        grade(make_spec(task="multiclass"), SUB.iloc[:2], ANSWERS, part="private")


def test_bad_usage_and_unknown_part_are_grading_errors() -> None:
    spec = make_spec(task="multiclass")
    with pytest.raises(GradingError, match="usage"):
        grade(spec, SUB, ANSWERS.assign(usage="test"))
    with pytest.raises(GradingError, match="part must be one of"):
        grade(spec, SUB, ANSWERS, part="hidden")  # type: ignore[arg-type]
    with pytest.raises(GradingError, match="no `public` rows"):
        grade(spec, SUB, ANSWERS.assign(usage="private"), part="public")


# ----------------------------------------------------------------- kinds


def test_bool_labels_from_csv(tmp_path: Path) -> None:
    spec = make_spec(target="Transported")
    ans = pd.DataFrame(
        {
            "id": ["a_1", "b_1", "c_1", "d_1"],
            "Transported": [True, False, True, True],
            "usage": ["private"] * 4,
        }
    )
    path = tmp_path / "submission.csv"
    path.write_text("id,Transported\na_1,True\nb_1,True\nc_1,False\nd_1,True\n")
    assert grade(spec, path, ans) == 0.5


def test_binary_f1_picks_true_as_positive() -> None:
    spec = make_spec(metric={"name": "f1", "higher_is_better": True})
    ans = pd.DataFrame(
        {"id": [1, 2, 3, 4, 5], "y": [True, True, False, False, True], "usage": ["private"] * 5}
    )
    sub = pd.DataFrame({"id": [1, 2, 3, 4, 5], "y": ["True", "False", "True", "False", "True"]})
    assert grade(spec, sub, ans) == pytest.approx(2 / 3)  # tp 2, fp 1, fn 1


def test_binary_f1_uses_declared_positive_class() -> None:
    spec = make_spec(metric={"name": "f1", "higher_is_better": True}, classes=["yes", "no"])
    ans = pd.DataFrame({"id": [1, 2, 3], "y": ["no", "no", "yes"], "usage": ["private"] * 3})
    sub = pd.DataFrame({"id": [1, 2, 3], "y": ["no", "yes", "yes"]})
    # positive = "no" (second declared class): tp 1, fn 1, fp 0 -> 2/3
    assert grade(spec, sub, ans) == pytest.approx(2 / 3)


def test_probability_roc_auc_with_text_labels() -> None:
    spec = make_spec(metric={"name": "roc_auc", "higher_is_better": True})
    ans = pd.DataFrame({"id": [1, 2, 3, 4], "y": ["0", "0", "1", "1"], "usage": ["private"] * 4})
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0.1, 0.4, 0.35, 0.8]})
    assert grade(spec, sub, ans) == pytest.approx(0.75)


def test_class_probabilities_log_loss(tmp_path: Path) -> None:
    spec = make_spec(
        task="multiclass",
        metric={"name": "log_loss", "higher_is_better": False},
        target="species",
        classes=["Acer", "Betula", "Quercus"],
    )
    ans = pd.DataFrame({"id": [1, 2], "species": ["Acer", "Quercus"], "usage": ["private"] * 2})
    path = tmp_path / "submission.csv"
    path.write_text("id,Quercus,Acer,Betula\n2,0.6,0.2,0.2\n1,0.5,0.5,0.5\n")
    assert grade(spec, path, ans) == pytest.approx((math.log(3) - math.log(0.6)) / 2)


def test_class_probabilities_roc_auc() -> None:
    spec = make_spec(
        task="multiclass",
        metric={"name": "roc_auc", "higher_is_better": True},
        classes=["A", "B", "C"],
    )
    ans = pd.DataFrame({"id": [0, 1, 2, 3], "y": ["A", "B", "C", "A"], "usage": ["private"] * 4})
    sub = pd.DataFrame(
        {
            "id": [0, 1, 2, 3],
            "A": [0.6, 0.2, 0.3, 0.4],
            "B": [0.3, 0.5, 0.6, 0.2],
            "C": [0.1, 0.3, 0.1, 0.4],
        }
    )
    assert grade(spec, sub, ans) == pytest.approx(11 / 18)


def test_multi_target_values() -> None:
    spec = make_spec(
        task="multi_target_regression",
        metric={"name": "mean_columnwise_rmsle", "higher_is_better": False},
        target=["t1", "t2"],
    )
    e1 = math.e - 1
    ans = pd.DataFrame({"id": [1, 2], "t1": [0.0, 0.0], "t2": [3.0, 3.0], "usage": ["private"] * 2})
    sub = pd.DataFrame({"id": [2, 1], "t2": [3.0, 3.0], "t1": [e1, e1]})
    assert grade(spec, sub, ans) == pytest.approx(0.5)


def test_quadratic_weighted_kappa_keeps_rating_distances() -> None:
    spec = make_spec(
        task="ordinal", metric={"name": "quadratic_weighted_kappa", "higher_is_better": True}
    )
    ans = pd.DataFrame({"id": [1, 2, 3], "y": [1, 2, 4], "usage": ["private"] * 3})
    sub = pd.DataFrame({"id": [1, 2, 3], "y": [1, 2, 2]})
    assert grade(spec, sub, ans) == pytest.approx(0.4)


def test_label_codes() -> None:
    assert label_codes(["1", "10", "2"]).tolist() == [1.0, 10.0, 2.0]
    assert label_codes(["cat", "dog"]).tolist() == [0.0, 1.0]


def test_spec_without_classes_for_multiclass_probabilities() -> None:
    spec = make_spec(task="multiclass", metric={"name": "log_loss", "higher_is_better": False})
    with pytest.raises(GradingError, match="classes"):
        grade(spec, SUB, ANSWERS)


# ----------------------------------------------------------------- reports


def test_grade_report_places_the_score() -> None:
    spec = make_spec(
        task="multiclass",
        leaderboard={"kind": "kaggle", "private": "lb.csv", "caveats": ["old board"]},
    )
    board = [1.0, 0.9, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    report = grade_report(spec, SUB, ANSWERS, leaderboard=board)
    assert isinstance(report, GradeReport)
    assert report.score == 0.5 and report.part == "private" and report.n_rows == 2
    assert report.metric == "accuracy" and report.higher_is_better
    assert report.leaderboard_kind == "kaggle" and report.n_entries == 10
    assert report.human_rank == pytest.approx(0.6)  # 4 entries beat 0.5: (10 - 5 + 1) / 10
    assert report.medal is None and not report.any_medal
    assert report.above_median is True  # median of the board is (0.5 + 0.4) / 2
    assert report.thresholds is not None and report.thresholds.gold == 1.0
    assert report.caveats[0] == "old board" and "approximation" in report.caveats[1]


def test_report_from_leaderboard_file(tmp_path: Path) -> None:
    path = tmp_path / "private_leaderboard.csv"
    path.write_text("rank,score\n1,0.4\n2,0.3\n3,0.2\n4,0.1\n5,0.05\n")
    report = report_for_score(make_spec(), 0.3, leaderboard=path, part="private")
    assert report.leaderboard_kind == "reference"  # no Kaggle board declared: never "humans"
    # N = 5: gold and silver at position 1 (0.4), bronze at position 2 (0.3)
    assert report.medal == "bronze" and report.human_rank == pytest.approx(0.8)
    assert "reference pool" in report.caveats[-1]


def test_report_without_leaderboard() -> None:
    report = report_for_score(make_spec(), 0.3)
    assert report.human_rank is None and report.medal is None and report.n_entries is None


# ----------------------------------------------------------------- real data


SPACESHIP = shared_dir() / "datasets" / "kaggle" / "spaceship-titanic" / "train.csv"


@pytest.mark.skipif(not SPACESHIP.is_file(), reason=f"real data not found at {SPACESHIP}")
def test_spaceship_titanic_round_trip(tmp_path: Path) -> None:
    """Real answers with bool `Transported`; a CSV of predictions written by pandas."""
    raw = pd.read_csv(SPACESHIP, usecols=["PassengerId", "Transported"]).head(1000)
    ans = raw.assign(usage=np.where(np.arange(len(raw)) % 10 < 3, "public", "private"))
    spec = make_spec(id="spaceship-titanic", id_column="PassengerId", target="Transported")
    pred = raw.sample(frac=1.0, random_state=0).assign(Transported=True)
    path = tmp_path / "submission.csv"
    pred.to_csv(path, index=False)
    private = ans[ans["usage"] == "private"]
    assert grade(spec, path, ans) == pytest.approx(float(private["Transported"].mean()))


@pytest.mark.parametrize(
    ("higher", "score", "flagged"),
    [(True, 0.98, True), (True, 0.97, False), (False, 0.05, True), (False, 0.2, False)],
)
def test_scores_past_the_honest_ceiling_are_flagged(
    higher: bool, score: float, flagged: bool
) -> None:
    limit = 0.97 if higher else 0.1
    metric = {"name": "roc_auc" if higher else "rmse", "higher_is_better": higher}
    spec = make_spec(metric={**metric, "implausible_beyond": limit})
    report = report_for_score(spec, score, leaderboard=[0.9, 0.5, 0.1])
    assert report.implausible is flagged
    assert any(c.startswith("SUSPECT") for c in report.caveats) is flagged
    assert not report_for_score(make_spec(metric=metric), score).implausible


def test_implausible_beyond_must_be_finite() -> None:
    with pytest.raises(ValidationError, match="implausible_beyond"):
        make_spec(metric={"name": "rmse", "higher_is_better": False, "implausible_beyond": "nan"})
