"""Attacks on the grader itself, on real competitions (issue 17, items 5 and 11).

* A submission must never make the grader fail: a column of 400-digit integers or one
  1e308 on a private row used to raise (`OverflowError`, a non-finite score) and end the
  episode `grading_error`. Both are now invalid, with the row named, on both parts.
* A rejection never quotes the file's contents: a canary written in every place a
  submission can hold text (header, ids, predictions, labels, a broken line) never shows
  in a message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mledojo
from mledojo.competition import get_competition
from mledojo.errors import InvalidSubmissionError
from mledojo.grading.scorer import Scorer

CANARY = "CANARY-7f3a9c2e-of-the-submitter"
KAGGLE = pytest.mark.skipif(
    not Path(os.environ.get("MLEDOJO_KAGGLE_DIR", "/nonexistent")).is_dir(),
    reason="needs MLEDOJO_KAGGLE_DIR",
)


def scorer_of(cid: str) -> Scorer:
    return Scorer(get_competition(cid), mledojo.prepare(cid))


def sample_of(s: Scorer) -> pd.DataFrame:
    return pd.read_csv(s.sample_path)


def first_private_row(s: Scorer, sample: pd.DataFrame) -> int:
    """The sample-submission row (0-based) of a private test id."""
    idc = s.spec.id_column
    private = set(s.answers.loc[s.answers["usage"] == "private", idc].astype(str))
    return int(np.flatnonzero(sample[idc].astype(str).isin(private).to_numpy())[0])


def refused(s: Scorer, path: Path, part: str) -> str:
    with pytest.raises(InvalidSubmissionError) as info:
        s.score(path, part=part)  # type: ignore[arg-type]
    return str(info.value)


def big_integers(s: Scorer, tmp_path: Path) -> tuple[Path, int]:
    """Every prediction a 400-digit integer; the first data row is row 1."""
    sample = sample_of(s)
    preds = [c for c in sample.columns if c != s.spec.id_column]
    big = "1" + "0" * 399
    lines = [",".join(sample.columns)]
    lines += [f"{i}," + ",".join([big] * len(preds)) for i in sample[s.spec.id_column]]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, 1


def huge_on_a_private_row(s: Scorer, tmp_path: Path) -> tuple[Path, int]:
    """The sample submission with 1e308 on one private row."""
    sample = sample_of(s)
    pred = [c for c in sample.columns if c != s.spec.id_column][0]
    row = first_private_row(s, sample)
    sample[pred] = sample[pred].astype(float)
    sample.loc[row, pred] = 1e308
    path = tmp_path / "huge.csv"
    sample.to_csv(path, index=False)
    return path, row + 1


ATTACKS: dict[str, Callable[[Scorer, Path], tuple[Path, int]]] = {
    "400-digit integers": big_integers,
    "1e308 on a private row": huge_on_a_private_row,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize(
    "cid", ["pump-failure", pytest.param("playground-series-s3e9", marks=KAGGLE)]
)
def test_overflowing_predictions_are_invalid_on_both_parts(
    cid: str, attack: str, tmp_path: Path
) -> None:
    s = scorer_of(cid)
    path, row = ATTACKS[attack](s, tmp_path)
    for part in ("public", "private"):
        msg = refused(s, path, part)
        assert f"row(s) {row}" in msg, msg
        assert "infinite or beyond" in msg, msg


@KAGGLE
def test_the_1e308_row_gets_the_same_verdict_on_both_parts(tmp_path: Path) -> None:
    """The membership oracle: rmse of 1e308 is inf, so only a grade of the row's part
    failed. Validation now refuses the file the same way whatever part is graded."""
    s = scorer_of("playground-series-s3e9")
    path, _ = huge_on_a_private_row(s, tmp_path)
    public, private = refused(s, path, "public"), refused(s, path, "private")
    assert public == private


# --------------------------------------------------------------------------- canary


def canary_files(s: Scorer, tmp_path: Path) -> dict[str, Path]:
    """Submissions holding the canary wherever a file can hold text."""
    sample = sample_of(s)
    idc = s.spec.id_column
    pred = [c for c in sample.columns if c != idc][0]
    out: dict[str, bytes] = {}

    def variant(name: str, frame: pd.DataFrame) -> None:
        out[name] = frame.to_csv(index=False).encode()

    cell = sample.copy()
    cell[pred] = cell[pred].astype(object)
    cell.loc[3, pred] = CANARY
    variant("prediction cell", cell)
    ids = sample.copy()
    ids[idc] = ids[idc].astype(object)
    ids.loc[2, idc] = CANARY
    variant("unknown id", ids)
    variant("extra column", sample.assign(**{CANARY: 1}))
    variant("renamed column", sample.rename(columns={pred: CANARY}))
    variant(
        "duplicate column",
        pd.concat([sample, sample[[pred]]], axis=1).set_axis([*sample.columns, pred], axis=1),
    )
    text = sample.to_csv(index=False)
    out["broken line"] = (text + f"{CANARY},{CANARY},{CANARY},{CANARY}\n").encode()
    out["not utf-8"] = text.encode() + CANARY.encode() + b"\xff\xfe\n"
    out["quoted newline"] = (text + f'"{CANARY}\n{CANARY}",1\n').encode()
    out["result.json"] = ('{"private_score": 0.93, "note": "' + CANARY + '"}\n').encode()
    paths = {}
    for name, data in out.items():
        path = tmp_path / f"{len(paths)}.csv"
        path.write_bytes(data)
        paths[name] = path
    return paths


@pytest.mark.parametrize("cid", ["pump-failure", pytest.param("titanic", marks=KAGGLE)])
def test_no_rejection_quotes_the_submitters_file(cid: str, tmp_path: Path) -> None:
    s = scorer_of(cid)
    chunks = {CANARY[i : i + 10] for i in range(len(CANARY) - 9)}
    for name, path in canary_files(s, tmp_path).items():
        for part in ("public", "private"):
            msg = refused(s, path, part)
            leaked = [c for c in chunks if c in msg]
            assert not leaked, (name, msg)
