"""Attacks on the grader itself, on real competitions (issue 17, items 5 and 11).

The checks ship with the library (`mledojo.grading.hostile`): a column of 400-digit
integers and one 1e308 on a private row used to make the grader fail (`OverflowError`, a
non-finite score: an uncounted verdict and a `grading_error` re-roll); both must now be
invalid on both parts with the row named. A canary written anywhere in a submission must
never show in a rejection.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mledojo
from mledojo.competition import get_competition
from mledojo.grading.hostile import GRADING_ATTACKS, run_grading_attacks
from mledojo.grading.scorer import Scorer

HAVE_KAGGLE = Path(os.environ.get("MLEDOJO_KAGGLE_DIR", "/nonexistent")).is_dir()
KAGGLE = pytest.mark.skipif(not HAVE_KAGGLE, reason="needs MLEDOJO_KAGGLE_DIR")
COMPETITIONS = [
    "pump-failure",  # probability (roc_auc), generated
    pytest.param("playground-series-s3e9", marks=KAGGLE),  # value (rmse)
    pytest.param("bike-sharing-demand", marks=KAGGLE),  # value (rmsle), text ids
    pytest.param("titanic", marks=KAGGLE),  # label (accuracy)
    pytest.param("leaf-classification", marks=KAGGLE),  # class probabilities (log loss)
    pytest.param("nomad2018-predict-transparent-conductors", marks=KAGGLE),  # two targets
]
_SCORERS: dict[str, Scorer] = {}


def scorer_of(cid: str) -> Scorer:
    if cid not in _SCORERS:
        _SCORERS[cid] = Scorer(get_competition(cid), mledojo.prepare(cid))
    return _SCORERS[cid]


@pytest.mark.parametrize("attack", list(GRADING_ATTACKS))
@pytest.mark.parametrize("cid", COMPETITIONS)
def test_the_grader_holds(cid: str, attack: str, tmp_path: Path) -> None:
    result = GRADING_ATTACKS[attack](scorer_of(cid), tmp_path)
    assert result.ok, result.detail


def test_the_suite_runs_every_attack(tmp_path: Path) -> None:
    results = run_grading_attacks(scorer_of("pump-failure"), tmp_path)
    assert [r.name for r in results] == list(GRADING_ATTACKS)
    assert all(r.ok for r in results), results
    overflow = results[1].detail
    assert "infinite or beyond" in overflow and "row(s) " in overflow
