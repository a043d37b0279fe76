"""pump-failure v1 (deprecated, kept to re-grade old results): files, seeds, grading.

v1's flat test file leaks the future (docs/pump-failure.md); v2 replaces it. These tests pin
v1 by its versioned id, so they keep testing v1 while `pump-failure` means v2.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mledojo.competition import get_competition
from mledojo.data.prepare import PreparedData, prepare
from mledojo.grading.scorer import Scorer
from mledojo.grading.scoring import report_for_score

CID = "pump-failure-v1"
pytestmark = pytest.mark.filterwarnings("ignore::mledojo.competition.CompetitionDeprecatedWarning")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def data(cache: Path) -> PreparedData:
    return prepare(CID, cache_dir=cache)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.csv"))
    }


def test_public_files_hold_no_answers(data: PreparedData) -> None:
    for path in data.public_dir.rglob("*.csv"):
        cols = pd.read_csv(path, nrows=0).columns
        if path.name != "train.csv":
            assert "failure_24h" not in cols or path.name == "sample_submission.csv"
    sample = pd.read_csv(data.sample_submission_path)
    assert set(sample["failure_24h"]) == {0.5}  # the sample carries no information
    assert not any(p.name == "parts.csv" for p in data.public_dir.rglob("*"))


def test_time_split_has_no_future_rows_in_train(data: PreparedData) -> None:
    train = pd.read_csv(data.public_dir / "train.csv", usecols=["timestamp"])
    test = pd.read_csv(data.public_dir / "test.csv", usecols=["timestamp"])
    assert pd.to_datetime(train["timestamp"]).max() < pd.to_datetime(test["timestamp"]).min()
    assert len(train) + len(test) == 175_200


def test_same_seed_is_byte_identical_and_other_seed_differs(
    data: PreparedData, tmp_path: Path
) -> None:
    again = prepare(CID, cache_dir=tmp_path / "a")
    other = prepare(CID, cache_dir=tmp_path / "b", data_seed=1)
    assert digests(again.root) == digests(data.root)
    assert digests(other.root)["public/train.csv"] != digests(data.root)["public/train.csv"]


def test_sample_perfect_and_constant_submissions(data: PreparedData, tmp_path: Path) -> None:
    comp = get_competition(CID)
    scorer = Scorer(comp, data)
    sample = scorer.score(data.sample_submission_path, part="private")
    assert sample.score == pytest.approx(0.5)
    assert sample.human_rank is not None and sample.human_rank < 0.3 and sample.medal is None
    answers = pd.read_csv(data.answers_path, usecols=["id", "failure_24h"])
    perfect = tmp_path / "perfect.csv"
    answers.astype({"failure_24h": float}).to_csv(perfect, index=False)
    best = scorer.score(perfect, part="private")
    assert best.score == 1.0 and best.human_rank == 1.0 and best.medal == "gold"
    assert best.leaderboard_kind == "reference"
    inverted = tmp_path / "inverted.csv"
    answers.assign(failure_24h=1.0 - answers["failure_24h"]).to_csv(inverted, index=False)
    worst = scorer.score(inverted, part="public")
    assert worst.score == 0.0 and worst.human_rank is not None and worst.human_rank < 0.1


def test_reference_board_is_labelled_and_spans_quality() -> None:
    comp = get_competition(CID)
    board = comp.spec.leaderboard
    assert board is not None and board.kind == "reference"
    scores = pd.read_csv(comp.path(board.private))["score"].to_numpy()
    assert scores.min() <= 0.51 and 0.85 <= scores.max() <= 0.97
    assert np.all(np.diff(scores) <= 0)  # best first


def _peek_ahead(test: pd.DataFrame) -> pd.DataFrame:
    """The known leak: predict 1 when the pump goes offline within its next 24 test rows."""
    test = test.sort_values(["pump_id", "timestamp"])
    stops = (test["load_pct"] == 0) & (test.groupby("pump_id")["load_pct"].shift(1) != 0)
    ahead = (
        stops.groupby(test["pump_id"])
        .transform(lambda s: s[::-1].rolling(25, min_periods=1).max()[::-1].shift(-1))
        .fillna(0.0)
    )
    return pd.DataFrame({"id": test["id"], "failure_24h": ahead.astype(float)})


def test_look_ahead_leak_is_flagged_and_honest_scores_are_not(
    data: PreparedData, tmp_path: Path
) -> None:
    comp = get_competition(CID)
    scorer = Scorer(comp, data)
    leak = tmp_path / "leak.csv"
    _peek_ahead(pd.read_csv(data.public_dir / "test.csv")).to_csv(leak, index=False)
    report = scorer.score(leak, part="private")
    assert report.score > 0.97 and report.implausible
    assert report.caveats[0].startswith("SUSPECT")
    board = comp.spec.leaderboard
    assert board is not None
    best_reference = float(pd.read_csv(comp.path(board.private))["score"].max())
    honest = report_for_score(comp.spec, best_reference)
    assert not honest.implausible and not any("SUSPECT" in c for c in honest.caveats)
