"""Grading under attack: submissions written to hurt the host or to mine the feedback.

Every refusal happens before pandas parses a file that is far too wide, too large or too
long for the competition; every message is bounded and names the file without its host
path; public scores are rounded; a submission equal to the hidden answers is flagged.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from mledojo.competition import CompetitionSpec, load_competition
from mledojo.data.prepare import PreparedData, prepare
from mledojo.errors import InvalidSubmissionError
from mledojo.grading import grade, grade_report
from mledojo.grading.rank import rank_score
from mledojo.grading.scorer import Scorer, load_answers
from mledojo.grading.scoring import PUBLIC_DECIMALS, public_score
from mledojo.grading.validate import (
    DEFAULT_MAX_BYTES,
    MAX_EXTRA_COLUMNS,
    MAX_HEADER_BYTES,
    MAX_MESSAGE_CHARS,
    MIN_MAX_BYTES,
    bounded_message,
    max_data_lines,
    max_submission_bytes,
    validate_submission,
)

from .conftest import make_spec


def answers(n: int = 6) -> pd.DataFrame:
    usage = ["public" if i % 3 == 0 else "private" for i in range(n)]
    return pd.DataFrame({"id": list(range(n)), "y": [i % 2 for i in range(n)], "usage": usage})


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def refused(sub: Any, ans: pd.DataFrame, spec: CompetitionSpec | None = None, **kw: Any) -> str:
    with pytest.raises(InvalidSubmissionError) as info:
        validate_submission(spec or make_spec(), sub, ans, **kw)
    msg = str(info.value)
    assert len(msg) <= MAX_MESSAGE_CHARS
    return msg


def with_usage(table: pd.DataFrame, every: int = 3) -> pd.DataFrame:
    usage = np.where(np.arange(len(table)) % every == 0, "public", "private")
    return table.assign(usage=usage)


# ----------------------------------------------------------------- width


def test_header_of_40000_columns_is_refused_unparsed(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(40_000))
    path = write(tmp_path / "submission.csv", header + "\n" + ",".join(["0"] * 40_000) + "\n")
    msg = refused(path, answers())
    assert "has 40,000 columns; 2 are expected" in msg
    assert "The header must be exactly: id,y" in msg
    assert "c39999" not in msg


def test_dataframe_of_40000_columns_is_refused() -> None:
    df = pd.DataFrame([[0] * 40_000], columns=[f"c{i}" for i in range(40_000)])
    msg = refused(df, answers(1))
    assert "has 40,000 columns" in msg and "id,y" in msg


def test_a_few_extra_columns_are_still_listed(tmp_path: Path) -> None:
    cols = ["id", "y", *(f"x{i}" for i in range(MAX_EXTRA_COLUMNS))]
    path = write(tmp_path / "submission.csv", ",".join(cols) + "\n" + ",".join(["0"] * 34) + "\n")
    msg = refused(path, answers(1))
    assert "unexpected column(s) at header position(s) 3, 4" in msg
    assert f"(and {MAX_EXTRA_COLUMNS - 10} more)" in msg and "x0" not in msg


def test_header_line_longer_than_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "submission.csv"
    path.write_bytes(b"id,y," + b"c" * (MAX_HEADER_BYTES + 10))
    msg = refused(path, answers(), max_bytes=DEFAULT_MAX_BYTES)
    assert f"longer than {MAX_HEADER_BYTES:,} bytes" in msg and "id,y" in msg


def test_long_expected_header_is_shortened() -> None:
    classes = [f"species_number_{i:03d}_long_name" for i in range(99)]
    spec = make_spec(
        task="multiclass", metric={"name": "log_loss", "higher_is_better": False}, classes=classes
    )
    ans = pd.DataFrame({"id": [0], "y": [classes[0]], "usage": ["private"]})
    msg = refused(pd.DataFrame({"id": [0], "wrong": [1.0]}), ans, spec)
    assert "100 columns" in msg and "sample submission" in msg


# ----------------------------------------------------------------- size and length


def test_max_submission_bytes_is_proportional() -> None:
    spec = make_spec()
    assert max_submission_bytes(spec, 10) == MIN_MAX_BYTES
    assert max_submission_bytes(spec, 100_000) == 100_000 * (64 + 40)
    assert max_submission_bytes(spec, 10**9) == DEFAULT_MAX_BYTES
    multi = make_spec(
        task="multiclass",
        metric={"name": "log_loss", "higher_is_better": False},
        classes=["a", "b", "c"],
    )
    assert max_submission_bytes(multi, 100_000) == 100_000 * (64 + 3 * 40)


def test_sparse_file_over_the_competition_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "submission.csv"
    with path.open("wb") as f:
        f.write(b"id,y\n0,0.5\n")
        f.truncate(MIN_MAX_BYTES + 1)  # sparse: a few bytes on disk
    msg = refused(path, answers())
    assert "too large" in msg and f"limit for this competition is {MIN_MAX_BYTES:,}" in msg
    assert "one row per test id" in msg


def test_nul_bytes_are_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "submission.csv"
    with path.open("wb") as f:
        f.write(b"id,y\n0,0.5\n")
        f.truncate(4 * MIN_MAX_BYTES)
    msg = refused(path, answers(), max_bytes=DEFAULT_MAX_BYTES)
    assert "not a readable CSV" in msg and "NUL byte at byte 11" in msg


def test_too_many_lines_are_refused_before_parsing(tmp_path: Path) -> None:
    most = max_data_lines(6)
    assert most == 22
    path = write(tmp_path / "submission.csv", "id,y\n" + "0,0.5\n" * (most + 1))
    msg = refused(path, answers())
    assert f"has {most + 1:,} lines after the header" in msg
    assert f"test set has 6 ids and at most {most:,}" in msg and "one row per test id" in msg
    ok = write(tmp_path / "ok.csv", "id,y\n" + "".join(f"{i},0.5\n" for i in range(6)) + "\n")
    assert len(validate_submission(make_spec(), ok, answers())) == 6


# ----------------------------------------------------------------- bounded messages


def test_huge_cell_value_is_not_quoted(tmp_path: Path) -> None:
    path = write(tmp_path / "submission.csv", "id,y\n0,0.1\n1," + "x" * 500_000 + "\n")
    msg = refused(path, answers(2))
    assert "must be numeric" in msg and "row(s) 2" in msg and "xxxx" not in msg


def test_huge_unknown_id_is_not_quoted(tmp_path: Path) -> None:
    path = write(tmp_path / "submission.csv", "id,y\n0,0.1\n" + "a" * 500_000 + ",0.2\n")
    msg = refused(path, answers(2))
    assert "not test ids, in row(s) 2" in msg and "aaaa" not in msg


def test_huge_column_name_is_not_quoted(tmp_path: Path) -> None:
    name = "Y" + "z" * 999_990  # just under the header limit
    path = write(tmp_path / "submission.csv", f"id,{name}\n0,0.1\n")
    msg = refused(path, answers(1))
    assert "missing column(s) 'y'" in msg and "unexpected column(s) at header position(s) 2" in msg
    assert "zzzz" not in msg


def test_huge_duplicate_column_names_are_not_quoted() -> None:
    name = "q" * 100_000
    df = pd.DataFrame([[0, 0.1, 1, 2]], columns=["id", "y", name, name])
    msg = refused(df, answers(1))
    assert "duplicate columns at header position(s) 3, 4" in msg and "qqqq" not in msg


def test_bounded_message_keeps_the_start_and_the_fix() -> None:
    text = "Submission `a.csv`: " + "v" * 10_000 + " Write numbers only."
    short = bounded_message(text)
    assert len(short) <= MAX_MESSAGE_CHARS
    assert short.startswith("Submission `a.csv`") and short.endswith("Write numbers only.")
    assert "characters cut" in short
    assert bounded_message("short") == "short"


# ----------------------------------------------------------------- host paths


def test_messages_never_show_the_host_path(tmp_path: Path) -> None:
    path = write(tmp_path / "host-secret" / "submissions" / "step-003.csv", "id,y\n0,high\n")
    msg = refused(path, answers(1))
    assert "Submission `step-003.csv`" in msg
    assert str(tmp_path) not in msg and "host-secret" not in msg
    named = refused(path, answers(1), display_name="submission.csv")
    assert "Submission `submission.csv`" in named and "step-003" not in named
    with pytest.raises(InvalidSubmissionError) as info:
        grade(make_spec(), path, answers(1), display_name="submission.csv")
    assert "`submission.csv`" in str(info.value) and "host-secret" not in str(info.value)


def test_missing_file_is_named_by_base_name(tmp_path: Path) -> None:
    msg = refused(tmp_path / "host-secret" / "nope.csv", answers())
    assert "Submission `nope.csv` does not exist" in msg and "host-secret" not in msg


# ----------------------------------------------------------------- a real competition


SPEC = """\
    id: tumour-hostile
    version: 1
    title: "Breast tumours, graded by a suspicious host"
    task: binary
    metric: {name: roc_auc, higher_is_better: true}
    target: malignant
    id_column: id
    source: {kind: local, path: data, files: [tumours.csv]}
    split: {kind: stratified, test_size: 0.25, public_fraction: 0.35, seed: 0}
    leaderboard: {kind: reference, private: leaderboard.csv}
"""


def build_competition(root: Path, board: list[float]) -> tuple[Path, PreparedData]:
    """scikit-learn's breast-cancer table (569 real rows) as a local competition."""
    folder = root / "tumour-hostile"
    (folder / "data").mkdir(parents=True)
    data = load_breast_cancer(as_frame=True)
    table = data.data.copy()
    table.columns = [c.replace(" ", "_") for c in table.columns]
    table.insert(0, "id", range(1, len(table) + 1))
    table["malignant"] = (data.target == 0).astype(int)
    table.to_csv(folder / "data" / "tumours.csv", index=False)
    (folder / "competition.yaml").write_text(textwrap.dedent(SPEC))
    (folder / "description.md").write_text("# Tumours\n\nSubmit `id,malignant`.\n")
    write_board(folder, board)
    prepared = prepare(load_competition(folder, origin="user"), cache_dir=root / "cache")
    return folder, prepared


def write_board(folder: Path, board: list[float]) -> None:
    rows = "".join(f"{i},{s!r}\n" for i, s in enumerate(sorted(board, reverse=True), 1))
    (folder / "leaderboard.csv").write_text("rank,score\n" + rows)


def noisy(answers: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """An honest, imperfect submission: the truth blurred by noise."""
    rng = np.random.default_rng(seed)
    truth = answers["malignant"].to_numpy(dtype=float)
    pred = np.clip(0.35 * truth + 0.65 * rng.random(len(truth)), 0.0, 1.0)
    return pd.DataFrame({"id": answers["id"], "malignant": pred})


@pytest.fixture(scope="module")
def tumours(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PreparedData]:
    return build_competition(tmp_path_factory.mktemp("hostile"), [0.99, 0.9, 0.8, 0.7, 0.5])


def test_public_score_is_rounded_and_private_is_exact(
    tumours: tuple[Path, PreparedData], tmp_path: Path
) -> None:
    folder, data = tumours
    comp = load_competition(folder, origin="user")
    ans = load_answers(comp, data)
    path = tmp_path / "submission.csv"
    noisy(ans).to_csv(path, index=False)
    exact_public = grade(comp.spec, path, ans, part="public")
    exact_private = grade(comp.spec, path, ans, part="private")
    shown = round(exact_public, PUBLIC_DECIMALS)
    assert shown != exact_public and abs(shown - exact_public) > 1e-8  # really rounded
    # A board entry at the rounded value: it beats the exact score but ties the shown one.
    board = [0.999, shown, 0.1, 0.05]
    write_board(folder, board)
    scorer = Scorer(comp, data)
    public = scorer.score(path, part="public")
    assert public.score == shown == public_score(exact_public)
    assert public.human_rank == rank_score(shown, board, True).human_rank
    assert public.human_rank != rank_score(exact_public, board, True).human_rank
    assert public.n_rows is not None and public.n_rows > 0
    private = scorer.score(path, part="private")
    assert private.score == exact_private


def test_submission_equal_to_the_answers_is_flagged(
    tumours: tuple[Path, PreparedData], tmp_path: Path
) -> None:
    folder, data = tumours
    scorer = Scorer(load_competition(folder, origin="user"), data)
    copy = tmp_path / "copy.csv"
    ans = scorer.answers
    ans[["id", "malignant"]].astype({"malignant": float}).to_csv(copy, index=False)
    for part in ("public", "private"):
        report = scorer.score(copy, part=part)
        assert report.copies_answers and report.implausible
        assert report.caveats[0].startswith("SUSPECT:")
        assert "reproduces the hidden answers exactly" in report.caveats[0]
        assert report.score == 1.0 and report.medal == "gold"  # the score itself is kept
    honest = tmp_path / "honest.csv"
    noisy(ans).to_csv(honest, index=False)
    report = scorer.score(honest, part="private")
    assert not report.copies_answers and not report.implausible
    assert not any("SUSPECT" in c for c in report.caveats)
    sample = scorer.score(data.sample_submission_path, part="private")
    assert not sample.copies_answers and not sample.implausible


def test_scorer_cap_follows_the_test_set(tumours: tuple[Path, PreparedData]) -> None:
    folder, data = tumours
    comp = load_competition(folder, origin="user")
    scorer = Scorer(comp, data)
    assert scorer.max_bytes == max_submission_bytes(comp.spec, len(scorer.answers))
    assert scorer.max_bytes == MIN_MAX_BYTES  # 143 test rows
    assert Scorer(comp, data, max_bytes=123).max_bytes == 123


def test_scorer_messages_use_the_display_name(
    tumours: tuple[Path, PreparedData], tmp_path: Path
) -> None:
    folder, data = tumours
    scorer = Scorer(load_competition(folder, origin="user"), data)
    path = write(tmp_path / "run-secret" / "step-007.csv", "id,malignant\n1,0.5\n")
    with pytest.raises(InvalidSubmissionError) as info:
        scorer.validate(path, display_name="submission.csv")
    assert "Submission `submission.csv`" in str(info.value) and "run-secret" not in str(info.value)
    with pytest.raises(InvalidSubmissionError) as info:
        scorer.score(path, part="public")
    assert "Submission `step-007.csv`" in str(info.value) and "run-secret" not in str(info.value)


# ----------------------------------------------------------------- copies, every layout


def iris_answers() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    names = np.asarray(data.target_names)[data.target.to_numpy()]
    return with_usage(pd.DataFrame({"id": range(len(names)), "species": names}))


def test_copied_labels_are_flagged_and_one_wrong_label_is_not() -> None:
    spec = make_spec(
        task="multiclass", metric={"name": "accuracy", "higher_is_better": True}, target="species"
    )
    ans = iris_answers()
    copy = ans[["id", "species"]].sample(frac=1.0, random_state=0)  # any row order
    report = grade_report(spec, copy, ans, part="all")
    assert report.copies_answers and report.implausible
    assert report.caveats[0].startswith("SUSPECT:") and f"({len(ans):,} rows)" in report.caveats[0]
    wrong = copy.copy()
    first = wrong.index[0]
    other = "setosa" if wrong.loc[first, "species"] != "setosa" else "virginica"
    wrong.loc[first, "species"] = other
    honest = grade_report(spec, wrong, ans, part="all")
    assert not honest.copies_answers and not honest.implausible and honest.score < 1.0


def test_copied_one_hot_probabilities_are_flagged() -> None:
    classes = ["setosa", "versicolor", "virginica"]
    spec = make_spec(
        task="multiclass",
        metric={"name": "log_loss", "higher_is_better": False},
        target="species",
        classes=classes,
    )
    ans = iris_answers()
    one_hot = pd.DataFrame({"id": ans["id"]})
    for c in classes:
        one_hot[c] = (ans["species"] == c).astype(float)
    assert grade_report(spec, one_hot, ans, part="private").copies_answers
    soft = one_hot.copy()
    soft[classes] = soft[classes] * 0.9 + 0.1 / 3  # a confident but honest model
    report = grade_report(spec, soft, ans, part="private")
    assert not report.copies_answers and not report.implausible


def test_copied_values_are_flagged_within_a_hair() -> None:
    spec = make_spec(
        task="regression", metric={"name": "rmse", "higher_is_better": False}, target="progression"
    )
    data = load_diabetes(as_frame=True)
    ans = with_usage(pd.DataFrame({"id": range(len(data.target)), "progression": data.target}))
    copy = ans[["id", "progression"]].copy()
    assert grade_report(spec, copy, ans).copies_answers
    copy["progression"] += 1e-13  # float noise of a CSV round trip: still a copy
    assert grade_report(spec, copy, ans).copies_answers
    copy["progression"] += 1e-3
    report = grade_report(spec, copy, ans)
    assert not report.copies_answers and not report.implausible
