"""Validation of the formats of issue 20: ranked labels (MAP@3) and multi-label probabilities.

Every rejection names the row (and the test id) and says how to fix the file; submissions
are real CSV files read by the same path as the host's grader.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from mledojo.competition import CompetitionSpec
from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading import grade, grade_report
from mledojo.grading.validate import submission_layout, validate_submission

from .conftest import make_spec

MAP3 = {"name": "map_at_3", "higher_is_better": True}
MCAUC = {"name": "mean_columnwise_roc_auc", "higher_is_better": True}
CLASSES = ["Dengue", "Lyme_disease", "Zika", "Malaria", "Plague"]


def ranked_spec() -> CompetitionSpec:
    return make_spec(task="multiclass", metric=MAP3, target="prognosis")


def ranked_answers() -> pd.DataFrame:
    labels = [CLASSES[i % 5] for i in range(10)]
    usage = ["public" if i < 4 else "private" for i in range(10)]
    return pd.DataFrame({"id": range(100, 110), "prognosis": labels, "usage": usage})


def write(tmp_path: Path, rows: list[str], header: str = "id,prognosis") -> Path:
    path = tmp_path / "submission.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def ranked_rows(cells: dict[int, str] | None = None) -> list[str]:
    """A valid submission: every row guesses `Dengue Zika Plague`, some rows overridden."""
    cells = cells or {}
    return [f"{100 + i},{cells.get(i, 'Dengue Zika Plague')}" for i in range(10)]


# ----------------------------------------------------------------- ranked labels


def test_ranked_labels_layout_and_a_valid_file_scores_map_at_3(tmp_path: Path) -> None:
    spec = ranked_spec()
    layout = submission_layout(spec)
    assert (layout.kind, layout.prediction_columns) == ("ranked_labels", ["prognosis"])
    # answers cycle Dengue, Lyme, Zika, Malaria, Plague: first, absent, second, absent, third
    path = write(tmp_path, ranked_rows({0: "Dengue", 5: " Dengue\tZika  "}))
    expected = (1 + 0 + 1 / 2 + 0 + 1 / 3) * 2 / 10
    assert grade(spec, path, ranked_answers(), part="all") == pytest.approx(expected)
    aligned = validate_submission(spec, path, ranked_answers())
    assert aligned["prognosis"].iloc[5] == "Dengue Zika"  # whitespace normalised


@pytest.mark.parametrize(
    ("cell", "row", "says"),
    [
        ("", 4, "is empty"),
        ("Dengue Zika Plague Malaria", 4, "more than 3 labels"),
        ("Dengue Cholera", 4, "not classes of this task"),
        ("Dengue Zika Dengue", 4, "same label twice"),
    ],
)
def test_ranked_labels_rejections_name_the_row_the_id_and_the_fix(
    tmp_path: Path, cell: str, row: int, says: str
) -> None:
    path = write(tmp_path, ranked_rows({row - 1: cell}))
    with pytest.raises(InvalidSubmissionError) as err:
        grade(ranked_spec(), path, ranked_answers())
    message = str(err.value)
    assert says in message
    assert f"row(s) {row} " in message and f"id(s) {100 + row - 1}" in message
    if says != "not classes of this task":
        assert "Write up to 3 class labels per row" in message
    else:
        assert "Known classes" in message


def test_a_ranked_cell_of_a_million_words_is_refused_without_splitting_it(
    tmp_path: Path,
) -> None:
    """Attack: one cell of 1,000,000 labels (2 MB, inside the size cap of a 50k-row test)
    must not become a million Python objects before it is refused."""
    n = 50_000
    answers = pd.DataFrame(
        {
            "id": range(n),
            "prognosis": [CLASSES[i % 5] for i in range(n)],
            "usage": ["private"] * n,
        }
    )
    rows = [f"{i},Dengue" for i in range(n)]
    rows[7] = "7," + " ".join(["Zika"] * 1_000_000)
    path = write(tmp_path, rows)
    start = time.perf_counter()
    with pytest.raises(
        InvalidSubmissionError, match=r"more than 3 labels in 1 row\(s\), e.g. row\(s\) 8 "
    ):
        grade(ranked_spec(), path, answers)
    assert time.perf_counter() - start < 5.0


def test_numeric_classes_are_normalised_inside_a_ranked_cell(tmp_path: Path) -> None:
    spec = ranked_spec()
    answers = pd.DataFrame({"id": [1, 2], "prognosis": [3, 7], "usage": ["private"] * 2})
    path = write(tmp_path, ["1,3.0 7", "2,3 7.0"])
    assert grade(spec, path, answers) == pytest.approx((1 + 1 / 2) / 2)


def test_classes_holding_spaces_cannot_be_ranked_labels(tmp_path: Path) -> None:
    answers = pd.DataFrame(
        {"id": [1, 2], "prognosis": ["West Nile", "Zika"], "usage": ["private"] * 2}
    )
    with pytest.raises(GradingError, match="hold spaces"):
        grade(ranked_spec(), write(tmp_path, ["1,Zika", "2,Zika"]), answers)


def test_ranked_copy_share_counts_first_guesses_equal_to_the_answer(tmp_path: Path) -> None:
    spec = ranked_spec()
    truth = ranked_answers()
    copy = [
        f"{i},{label} Plague" if label != "Plague" else f"{i},Plague"
        for i, label in zip(truth["id"], truth["prognosis"], strict=True)
    ]
    report = grade_report(spec, write(tmp_path, copy), truth, part="all")
    assert report.score == 1.0 and report.copies_answers and report.copy_share == 1.0
    second = [
        f"{i},Malaria {label}" if label != "Malaria" else f"{i},Dengue Malaria"
        for i, label in zip(truth["id"], truth["prognosis"], strict=True)
    ]
    report = grade_report(spec, write(tmp_path, second), truth, part="all")
    assert report.score == 0.5 and not report.copies_answers  # every answer guessed second
    assert report.copy_share == pytest.approx(0.0)


# ----------------------------------------------------------------- multi-label


TARGETS = ["Pastry", "Stains", "Bumps"]


def multi_spec() -> CompetitionSpec:
    return make_spec(task="multi_label", metric=MCAUC, target=TARGETS)


def multi_answers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(8),
            "Pastry": [1, 0, 1, 0, 1, 0, 1, 0],
            "Stains": [0, 0, 1, 1, 0, 0, 1, 1],
            "Bumps": [0, 0, 0, 0, 0, 0, 0, 1],
            "usage": ["public", "private"] * 4,
        }
    )


def multi_rows(change: dict[tuple[int, str], str] | None = None) -> list[str]:
    change = change or {}
    good = {"Pastry": "0.8", "Stains": "0.3", "Bumps": "0.1"}
    return [",".join([str(i), *(change.get((i, t), good[t]) for t in TARGETS)]) for i in range(8)]


def test_multi_label_layout_is_one_probability_column_per_target(tmp_path: Path) -> None:
    layout = submission_layout(multi_spec())
    assert (layout.kind, layout.prediction_columns) == ("probability", TARGETS)
    perfect = [
        f"{i},{p},{s},{b}"
        for i, p, s, b in multi_answers()[["id", *TARGETS]].itertuples(index=False)
    ]
    header = "id," + ",".join(TARGETS)
    report = grade_report(multi_spec(), write(tmp_path, perfect, header), multi_answers())
    # private rows: Bumps holds one positive, Pastry none -> only Stains and Bumps count
    assert report.score == 1.0 and report.copies_answers and report.copy_share == 1.0
    assert grade(multi_spec(), write(tmp_path, multi_rows(), header), multi_answers()) == 0.5


def test_multi_label_rejects_a_missing_column_and_out_of_range_probabilities(
    tmp_path: Path,
) -> None:
    header = "id," + ",".join(TARGETS)
    missing = [row.rsplit(",", 1)[0] for row in multi_rows()]
    with pytest.raises(InvalidSubmissionError, match="Bumps"):
        grade(multi_spec(), write(tmp_path, missing, "id,Pastry,Stains"), multi_answers())
    above = multi_rows({(3, "Stains"): "1.5"})
    with pytest.raises(
        InvalidSubmissionError, match=r"`Stains` must hold probabilities in \[0, 1\].*row\(s\) 4 "
    ):
        grade(multi_spec(), write(tmp_path, above, header), multi_answers())
    blank = multi_rows({(6, "Bumps"): ""})
    with pytest.raises(InvalidSubmissionError, match=r"`Bumps` is empty or NaN.*row\(s\) 7 "):
        grade(multi_spec(), write(tmp_path, blank, header), multi_answers())


# ----------------------------------------------------------------- regressions


@pytest.mark.parametrize("name", ["smape", "median_absolute_error", "r2", "normalized_gini"])
def test_regression_metrics_keep_the_value_checks(tmp_path: Path, name: str) -> None:
    spec = make_spec(
        task="regression",
        metric={"name": name, "higher_is_better": name in ("r2", "normalized_gini")},
    )
    answers = pd.DataFrame({"id": range(4), "y": [1.0, 4.0, 2.0, 8.0], "usage": ["private"] * 4})
    with pytest.raises(InvalidSubmissionError, match=r"must be numeric.*row\(s\) 2 "):
        grade(spec, write(tmp_path, ["0,1", "1,abc", "2,2", "3,3"], "id,y"), answers)
    with pytest.raises(InvalidSubmissionError, match=r"infinite.*row\(s\) 3 "):
        grade(spec, write(tmp_path, ["0,1", "1,2", "2,inf", "3,3"], "id,y"), answers)
    assert grade(spec, write(tmp_path, ["0,1", "1,4", "2,2", "3,8"], "id,y"), answers) in (0.0, 1.0)


@pytest.mark.parametrize("name", ["log_loss", "balanced_log_loss", "roc_auc", "accuracy"])
def test_multi_label_refuses_a_metric_that_reads_one_target(name: str) -> None:
    """log loss would read the 0/1 matrix as one-hot classes: a wrong score, not an error."""
    metric = {"name": name, "higher_is_better": name in ("roc_auc", "accuracy")}
    with pytest.raises(GradingError, match="multi_label"):
        submission_layout(make_spec(task="multi_label", metric=metric, target=TARGETS))
