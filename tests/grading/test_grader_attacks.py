"""Attacks on the grader itself, on real competitions (issue 17, items 5 and 11).

The checks ship with the library (`mledojo.grading.hostile`): a column of 400-digit
integers and one 1e308 on a private row used to make the grader fail (`OverflowError`, a
non-finite score: an uncounted verdict and a `grading_error` re-roll); both must now be
invalid on both parts with the row named. A canary written anywhere in a submission must
never show in a rejection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mledojo
from mledojo.competition import get_competition
from mledojo.grading.hostile import GRADING_ATTACKS, run_grading_attacks
from mledojo.grading.scorer import Scorer
from mledojo.testing.shared_data import kaggle_root, need

COMPETITIONS = [
    "pump-failure",  # probability (roc_auc), generated
    "playground-series-s3e9",  # value (rmse)
    "bike-sharing-demand",  # value (rmsle), text ids
    "titanic",  # label (accuracy)
    "leaf-classification",  # class probabilities (log loss)
    "nomad2018-predict-transparent-conductors",  # two targets
]
_SCORERS: dict[str, Scorer] = {}


def scorer_of(cid: str) -> Scorer:
    if get_competition(cid).spec.source.kind == "kaggle":
        need(kaggle_root())
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
