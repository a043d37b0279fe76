"""Submission validation: each problem raises `InvalidSubmissionError` naming what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mledojo.competition import CompetitionSpec
from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading.validate import normalize_labels, submission_layout, validate_submission

from .conftest import make_spec


def answers(n: int = 6, labels: list[Any] | None = None) -> pd.DataFrame:
    y = labels if labels is not None else [i % 2 for i in range(n)]
    usage = ["public" if i % 3 == 0 else "private" for i in range(len(y))]
    return pd.DataFrame({"id": list(range(len(y))), "y": y, "usage": usage})


def write(tmp_path: Path, text: str, name: str = "submission.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_of(df: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "submission.csv"
    df.to_csv(path, index=False)
    return path


def good(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"id": list(range(n)), "y": np.linspace(0, 1, n)})


def refused(spec: CompetitionSpec, sub: Any, ans: pd.DataFrame, **kw: Any) -> str:
    with pytest.raises(InvalidSubmissionError) as info:
        validate_submission(spec, sub, ans, **kw)
    return str(info.value)


# ----------------------------------------------------------------- happy paths


def test_returns_rows_in_answer_order(tmp_path: Path) -> None:
    sub = good().iloc[::-1]
    out = validate_submission(make_spec(), csv_of(sub, tmp_path), answers())
    assert list(out.columns) == ["id", "y"]
    assert out["id"].tolist() == list(range(6))
    assert out["y"].tolist() == pytest.approx(list(np.linspace(0, 1, 6)))


def test_int_ids_match_text_ids(tmp_path: Path) -> None:
    ans = answers().assign(id=lambda d: d["id"].astype(str))
    out = validate_submission(make_spec(), csv_of(good(), tmp_path), ans)
    assert out["id"].tolist() == [str(i) for i in range(6)]
    out2 = validate_submission(
        make_spec(), good().assign(id=lambda d: d["id"].astype(str)), answers()
    )
    assert len(out2) == 6


def test_column_order_does_not_matter(tmp_path: Path) -> None:
    path = csv_of(good()[["y", "id"]], tmp_path)
    assert len(validate_submission(make_spec(), path, answers())) == 6


def test_bool_labels_survive_a_csv_round_trip(tmp_path: Path) -> None:
    spec = make_spec(metric={"name": "accuracy", "higher_is_better": True}, target="Transported")
    ans = pd.DataFrame(
        {
            "id": ["0001_01", "0002_01", "0003_01"],
            "Transported": [True, False, True],
            "usage": ["public", "private", "private"],
        }
    )
    path = write(tmp_path, "id,Transported\n0001_01,False\n0002_01,false\n0003_01,TRUE\n")
    out = validate_submission(spec, path, ans)
    assert out["Transported"].tolist() == ["False", "False", "True"]


def test_int_labels_match_text_labels(tmp_path: Path) -> None:
    spec = make_spec(task="multiclass", metric={"name": "accuracy", "higher_is_better": True})
    ans = answers(labels=["1", "2", "3"])
    path = write(tmp_path, "id,y\n0,1\n1,2.0\n2,3\n")
    assert validate_submission(spec, path, ans)["y"].tolist() == ["1", "2", "3"]


def test_normalize_labels() -> None:
    assert normalize_labels(pd.Series([True, False])).tolist() == ["True", "False"]
    assert normalize_labels(pd.Series([1.0, 2.5])).tolist() == ["1", "2.5"]
    assert normalize_labels(pd.Series([" yes", "TRUE", "3.0", None])).tolist() == [
        "yes",
        "True",
        "3",
        None,
    ]


def test_class_probability_layout() -> None:
    spec = make_spec(
        task="multiclass",
        metric={"name": "log_loss", "higher_is_better": False},
        target="species",
        classes=["a", "b", "c"],
    )
    layout = submission_layout(spec)
    assert layout.kind == "class_probabilities" and layout.columns == ["id", "a", "b", "c"]
    over = make_spec(submission_columns=["id", "p"])
    assert submission_layout(over).columns == ["id", "p"]


def test_direction_mismatch_with_registry_is_a_grading_error() -> None:
    with pytest.raises(GradingError, match="higher_is_better"):
        submission_layout(make_spec(metric={"name": "roc_auc", "higher_is_better": False}))


# ----------------------------------------------------------------- files


def test_missing_file(tmp_path: Path) -> None:
    msg = refused(make_spec(), tmp_path / "nope.csv", answers())
    assert "nope.csv" in msg and "does not exist" in msg


def test_empty_file(tmp_path: Path) -> None:
    msg = refused(make_spec(), write(tmp_path, ""), answers())
    assert "submission.csv" in msg and "empty" in msg


def test_header_only(tmp_path: Path) -> None:
    msg = refused(make_spec(), write(tmp_path, "id,y\n"), answers())
    assert "no rows" in msg


def test_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "submission.csv"
    path.write_bytes(b"\xff\xfe\x00\x81binary\x00junk\n\x9c\x00")
    msg = refused(make_spec(), path, answers())
    assert "submission.csv" in msg and "not a readable CSV" in msg


def test_ragged_rows_are_not_a_csv(tmp_path: Path) -> None:
    msg = refused(make_spec(), write(tmp_path, "id,y\n0,0.1\n1,0.2,7,8\n"), answers())
    assert "not a readable CSV" in msg


def test_too_large(tmp_path: Path) -> None:
    msg = refused(make_spec(), csv_of(good(), tmp_path), answers(), max_bytes=10)
    assert "too large" in msg and "10 bytes" in msg


# ----------------------------------------------------------------- columns


def test_missing_column_suggests_rename(tmp_path: Path) -> None:
    path = csv_of(good().rename(columns={"y": "Y"}), tmp_path)
    msg = refused(make_spec(), path, answers())
    assert "missing column(s) 'y'" in msg and "unexpected column(s) at header position(s) 2" in msg
    assert "Rename column 2 to `y`" in msg and "id,y" in msg


def test_extra_column(tmp_path: Path) -> None:
    msg = refused(make_spec(), csv_of(good().assign(extra=1), tmp_path), answers())
    assert "unexpected column(s) at header position(s) 3" in msg and "extra" not in msg


def test_missing_id_column(tmp_path: Path) -> None:
    msg = refused(make_spec(), csv_of(good()[["y"]], tmp_path), answers())
    assert "missing column(s) 'id'" in msg


def test_duplicate_column_in_dataframe() -> None:
    df = pd.DataFrame([[0, 0.1, 0.2]], columns=["id", "y", "y"])
    msg = refused(make_spec(), df, answers(1))
    assert "duplicate columns ['y'] at header position(s) 2, 3" in msg


# ----------------------------------------------------------------- ids and rows


def test_missing_ids(tmp_path: Path) -> None:
    msg = refused(make_spec(), csv_of(good().iloc[:4], tmp_path), answers())
    assert "missing" in msg and "4, 5" in msg and "4 rows" in msg and "6 ids" in msg


def test_extra_ids(tmp_path: Path) -> None:
    sub = pd.concat([good(), pd.DataFrame({"id": [99], "y": [0.5]})])
    msg = refused(make_spec(), csv_of(sub, tmp_path), answers())
    assert "not test ids, in row(s) 7" in msg and "99" not in msg


def test_duplicate_ids(tmp_path: Path) -> None:
    sub = pd.concat([good(), good().iloc[[2]]])
    msg = refused(make_spec(), csv_of(sub, tmp_path), answers())
    assert "duplicate `id`" in msg and "2" in msg and "7 rows" in msg


def test_wrong_row_count_is_reported(tmp_path: Path) -> None:
    msg = refused(make_spec(), csv_of(good(3), tmp_path), answers())
    assert "It has 3 rows; the test set has 6 ids" in msg


def test_blank_id(tmp_path: Path) -> None:
    msg = refused(make_spec(), write(tmp_path, "id,y\n0,0.1\n,0.2\n"), answers(2))
    assert "column `id` is empty in row(s) 2" in msg


def test_dataframe_source_is_named() -> None:
    msg = refused(make_spec(), good(3), answers(), source="episode-7/submission.csv")
    assert "episode-7/submission.csv" in msg


# ----------------------------------------------------------------- values


def test_nan_prediction(tmp_path: Path) -> None:
    msg = refused(make_spec(), write(tmp_path, "id,y\n0,0.1\n1,\n"), answers(2))
    assert "column `y`" in msg and "NaN" in msg and "row(s) 2" in msg and "id(s) 1" in msg


def test_infinite_prediction(tmp_path: Path) -> None:
    spec = make_spec(task="regression", metric={"name": "rmse", "higher_is_better": False})
    msg = refused(spec, write(tmp_path, "id,y\n0,inf\n1,2\n"), answers(2))
    assert "column `y`" in msg and "infinite or beyond" in msg and "row(s) 1" in msg


def test_non_numeric_prediction(tmp_path: Path) -> None:
    msg = refused(make_spec(), write(tmp_path, "id,y\n0,0.1\n1,high\n"), answers(2))
    assert "column `y` must be numeric" in msg and "row(s) 2" in msg and "high" not in msg


def test_bool_where_probability_needed(tmp_path: Path) -> None:
    msg = refused(make_spec(), write(tmp_path, "id,y\n0,True\n1,False\n"), answers(2))
    assert "column `y`" in msg and "numbers are needed" in msg


def test_probability_out_of_range(tmp_path: Path) -> None:
    msg = refused(make_spec(), write(tmp_path, "id,y\n0,0.1\n1,1.5\n"), answers(2))
    assert "column `y`" in msg and "[0, 1]" in msg and "1.5" not in msg and "id(s) 1" in msg


def test_class_probability_out_of_range(tmp_path: Path) -> None:
    spec = make_spec(
        task="multiclass",
        metric={"name": "log_loss", "higher_is_better": False},
        classes=["a", "b"],
    )
    ans = answers(labels=["a", "b"])
    msg = refused(spec, write(tmp_path, "id,a,b\n0,0.5,0.5\n1,-0.1,1\n"), ans)
    assert "column `a`" in msg and "[0, 1]" in msg


def test_negative_prediction_for_rmsle(tmp_path: Path) -> None:
    spec = make_spec(task="regression", metric={"name": "rmsle", "higher_is_better": False})
    msg = refused(spec, write(tmp_path, "id,y\n0,-3\n1,2\n"), answers(2))
    assert "column `y`" in msg and ">= 0" in msg and "rmsle" in msg


def test_label_outside_classes(tmp_path: Path) -> None:
    spec = make_spec(metric={"name": "accuracy", "higher_is_better": True})
    msg = refused(spec, write(tmp_path, "id,y\n0,0\n1,maybe\n"), answers(2))
    assert "column `y`" in msg and "row(s) 2" in msg and "Known classes: '0', '1'" in msg
    assert "maybe" not in msg


def test_blank_label(tmp_path: Path) -> None:
    spec = make_spec(metric={"name": "accuracy", "higher_is_better": True})
    msg = refused(spec, write(tmp_path, "id,y\n0,0\n1,\n"), answers(2))
    assert "column `y` is empty" in msg and "row(s) 2" in msg


def test_answers_without_usage_is_a_grading_error() -> None:
    with pytest.raises(GradingError, match="usage"):
        validate_submission(make_spec(), good(), answers().drop(columns="usage"))


def test_duplicate_answer_ids_copied_by_the_submission_are_still_a_grading_error(
    tmp_path: Path,
) -> None:
    """The answers' repeat check runs only when the match is not clean: a submission that
    repeats the answers' repeated id, in their order, must not make it clean."""
    ans = answers().assign(id=[0, 0, 1, 2, 3, 4])
    sub = good().assign(id=[0, 0, 1, 2, 3, 4])
    with pytest.raises(GradingError, match="duplicate ids"):
        validate_submission(make_spec(), csv_of(sub, tmp_path), ans)
    text = ans.assign(id=lambda d: "t" + d["id"].astype(str))
    with pytest.raises(GradingError, match="duplicate ids"):
        validate_submission(make_spec(), csv_of(sub.assign(id=text["id"]), tmp_path), text)


def test_text_ids_that_look_like_numbers_keep_their_text(tmp_path: Path) -> None:
    """Ids are parsed as pandas infers them, and again as text when the answers' ids are
    text but the file's look like numbers: `007` stays `007`, so `7` is not a test id."""
    ids = ["007", "010", "011", "012", "013", "014"]
    ans = answers().assign(id=pd.Series(ids, dtype=object))
    sub = "id,y\n" + "".join(f"{i},0.5\n" for i in reversed(ids))
    out = validate_submission(make_spec(), write(tmp_path, sub), ans)
    assert out["id"].tolist() == ids
    wrong = "id,y\n" + "".join(f"{int(i)},0.5\n" for i in ids)
    assert "not test ids" in refused(make_spec(), write(tmp_path, wrong), ans)


def test_duplicate_answer_ids_is_a_grading_error() -> None:
    ans = answers().assign(id=[0, 0, 1, 2, 3, 4])
    with pytest.raises(GradingError, match="duplicate ids"):
        validate_submission(make_spec(), good(), ans)
