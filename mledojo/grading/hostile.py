"""Hostile submissions against one competition's grader, each one a check (issue 17).

Shipped like the sandbox's hostile suite (`mledojo.sandbox.hostile`), so that any
competition, a third-party folder too, can be checked: `run_grading_attacks(scorer,
tmp_dir)` builds each attack from the competition's own sample submission and answers,
grades it on both parts and reports what held. Checks:

* `overflow-column`: the first prediction column made of 400-digit integers;
* `overflow-private-row`: `1e308` in one private row;
  both must be refused as invalid (never a `GradingError`, which would be an uncounted
  verdict and a `grading_error` re-roll), the same way on both parts, with the row named;
* `canary`: a canary string in the header, an id, a cell, a broken line, a line that is
  not UTF-8: no rejection may quote it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading.scorer import Scorer
from mledojo.grading.scoring import Part

CANARY = "CANARY-7f3a9c2e-of-the-submitter"
#: A rejection may not hold any run of this many characters of the canary.
CANARY_RUN = 10
PARTS: tuple[Part, ...] = ("public", "private")


@dataclass(frozen=True)
class AttackResult:
    """One attack's outcome: `ok` when the grader held."""

    name: str
    ok: bool
    detail: str = ""


def run_grading_attacks(scorer: Scorer, tmp_dir: Path) -> list[AttackResult]:
    """Run every check of `GRADING_ATTACKS` on `scorer`'s competition."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    return [check(scorer, tmp_dir) for check in GRADING_ATTACKS.values()]


def _sample(scorer: Scorer) -> tuple[pd.DataFrame, str, str]:
    """The sample submission (ids as text), its id column and first prediction column."""
    idc = scorer.spec.id_column
    sample = pd.read_csv(scorer.sample_path, dtype={idc: str})
    pred = next(c for c in sample.columns if c != idc)
    return sample, idc, pred


def _verdicts(scorer: Scorer, path: Path) -> dict[Part, str]:
    """Each part's rejection message ("" when the file was graded)."""
    out: dict[Part, str] = {}
    for part in PARTS:
        try:
            scorer.score(path, part=part, display_name="submission.csv")
            out[part] = ""
        except InvalidSubmissionError as e:
            out[part] = str(e)
    return out


def _refused_with_row(name: str, scorer: Scorer, path: Path, row: int) -> AttackResult:
    try:
        verdicts = _verdicts(scorer, path)
    except GradingError as e:
        return AttackResult(name, False, f"the grader failed (a grading error): {e}")
    public, private = verdicts["public"], verdicts["private"]
    if not public or not private:
        return AttackResult(name, False, f"graded instead of refused: {verdicts}")
    if public != private:
        return AttackResult(name, False, f"the two parts answered differently: {verdicts}")
    if f"row(s) {row}" not in public:
        return AttackResult(name, False, f"row {row} is not named: {public}")
    return AttackResult(name, True, public)


def check_overflow_column(scorer: Scorer, tmp_dir: Path) -> AttackResult:
    """A column of 400-digit integers (pandas keeps them as Python ints)."""
    sample, _, pred = _sample(scorer)
    sample[pred] = "1" + "0" * 399
    path = tmp_dir / "overflow-column.csv"
    sample.to_csv(path, index=False)
    return _refused_with_row("overflow-column", scorer, path, 1)


def check_overflow_private_row(scorer: Scorer, tmp_dir: Path) -> AttackResult:
    """`1e308` on one private row (an rmse of it is inf on that row's part only)."""
    sample, idc, pred = _sample(scorer)
    answers = scorer.answers
    private = set(answers.loc[answers["usage"] == "private", idc].astype(str))
    row = int(np.flatnonzero(sample[idc].isin(private).to_numpy())[0])
    sample[pred] = sample[pred].astype(object)
    sample.loc[row, pred] = "1e308"
    path = tmp_dir / "overflow-private-row.csv"
    sample.to_csv(path, index=False)
    return _refused_with_row("overflow-private-row", scorer, path, row + 1)


def _canary_files(scorer: Scorer) -> dict[str, bytes]:
    sample, idc, pred = _sample(scorer)
    text = sample.to_csv(index=False)
    cell = sample.astype(object)
    cell.loc[min(3, len(cell) - 1), pred] = CANARY
    ids = sample.copy()
    ids.loc[min(2, len(ids) - 1), idc] = CANARY
    dup = pd.concat([sample, sample[[pred]]], axis=1)
    return {
        "prediction cell": cell.to_csv(index=False).encode(),
        "unknown id": ids.to_csv(index=False).encode(),
        "extra column": sample.assign(**{CANARY: 1}).to_csv(index=False).encode(),
        "renamed column": sample.rename(columns={pred: CANARY}).to_csv(index=False).encode(),
        "duplicate column": dup.to_csv(index=False).encode(),
        "broken line": (text + f"{CANARY},{CANARY},{CANARY},{CANARY}\n").encode(),
        "not utf-8": text.encode() + CANARY.encode() + b"\xff\xfe\n",
        "quoted newline": (text + f'"{CANARY}\n{CANARY}",1\n').encode(),
        "result.json": ('{"private_score": 0.93, "note": "' + CANARY + '"}\n').encode(),
    }


def check_canary(scorer: Scorer, tmp_dir: Path) -> AttackResult:
    """No rejection quotes the file: a canary anywhere in it never shows in a message."""
    runs = {CANARY[i : i + CANARY_RUN] for i in range(len(CANARY) - CANARY_RUN + 1)}
    for i, (where, data) in enumerate(_canary_files(scorer).items()):
        path = tmp_dir / f"canary-{i}.csv"
        path.write_bytes(data)
        try:
            verdicts = _verdicts(scorer, path)
        except GradingError as e:
            return AttackResult("canary", False, f"{where}: the grader failed: {e}")
        for part, message in verdicts.items():
            if not message:
                return AttackResult("canary", False, f"{where}: graded on the {part} part")
            if any(run in message for run in runs):
                return AttackResult("canary", False, f"{where}: quoted: {message}")
    return AttackResult("canary", True)


GRADING_ATTACKS: dict[str, Callable[[Scorer, Path], AttackResult]] = {
    "overflow-column": check_overflow_column,
    "overflow-private-row": check_overflow_private_row,
    "canary": check_canary,
}
