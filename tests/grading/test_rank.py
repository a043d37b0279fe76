"""HumanRank, medal thresholds and above-median, checked by hand and on real Kaggle boards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mledojo.errors import GradingError
from mledojo.grading.boards import load_leaderboard
from mledojo.grading.rank import (
    MedalThresholds,
    human_rank,
    medal_for,
    medal_positions,
    medal_thresholds,
    rank_score,
)
from mledojo.testing.shared_data import shared_root


def shared_dir() -> Path:
    return shared_root()


MLEBENCH = shared_dir() / "datasets" / "leaderboards" / "mlebench"
SUMMARY = MLEBENCH / "_summary.csv"


def summary_rows() -> list[tuple[str, int, bool, float, float, float, float]]:
    if not SUMMARY.is_file():
        return []
    df = pd.read_csv(SUMMARY)
    cols = ["comp", "teams", "lower_better", "gold", "silver", "bronze", "median"]
    return [tuple(r) for r in df[cols].itertuples(index=False)]  # type: ignore[misc]


# ----------------------------------------------------------------- HumanRank


def test_human_rank_best_and_worst() -> None:
    board = [0.9, 0.8, 0.7, 0.6]
    assert human_rank(0.95, board, True) == 1.0
    assert human_rank(0.9, board, True) == 1.0  # a tie with the leader beats nobody's place
    assert human_rank(0.5, board, True) == 0.0  # all 4 beat it: p = 5 -> (4 - 5 + 1) / 4
    assert human_rank(0.6, board, True) == 0.25


def test_human_rank_ties_do_not_cost_a_place() -> None:
    # only 0.9 strictly beats 0.8: p = 2 -> (4 - 2 + 1) / 4
    assert human_rank(0.8, [0.9, 0.8, 0.8, 0.7], True) == 0.75


def test_human_rank_lower_is_better() -> None:
    board = [1.0, 2.0, 3.0]
    assert human_rank(2.0, board, False) == pytest.approx(2 / 3)
    assert human_rank(0.5, board, False) == 1.0
    assert human_rank(3.5, board, False) == 0.0


def test_human_rank_refuses_nan_and_empty_boards() -> None:
    with pytest.raises(GradingError, match="empty"):
        human_rank(1.0, [], True)
    with pytest.raises(GradingError, match="NaN"):
        human_rank(1.0, [1.0, float("nan")], True)
    with pytest.raises(GradingError, match="non-finite"):
        human_rank(float("nan"), [1.0], True)


# ----------------------------------------------------------------- medals


@pytest.mark.parametrize(
    ("n", "positions"),
    [
        (1, (1, 1, 1)),
        (19, (1, 3, 7)),
        (99, (9, 19, 39)),
        (100, (10, 20, 40)),
        (249, (10, 49, 99)),
        (250, (10, 50, 100)),
        (999, (11, 50, 100)),
        (1000, (12, 50, 100)),
        (2288, (14, 114, 228)),
    ],
)
def test_medal_positions_follow_the_table(n: int, positions: tuple[int, int, int]) -> None:
    assert medal_positions(n) == positions


def test_thresholds_are_scores_at_positions_of_the_sorted_board() -> None:
    board = np.arange(1, 11, dtype=float)  # N = 10: positions 1, 2, 4
    t = medal_thresholds(board[::-1].copy(), higher_is_better=True)
    assert (t.gold, t.silver, t.bronze, t.median) == (10.0, 9.0, 7.0, 5.5)
    low = medal_thresholds(board, higher_is_better=False)
    assert (low.gold, low.silver, low.bronze) == (1.0, 2.0, 4.0)


def test_score_equal_to_threshold_earns_it() -> None:
    t = MedalThresholds(gold=0.9, silver=0.8, bronze=0.7, median=0.6)
    assert medal_for(0.9, t, True) == "gold"
    assert medal_for(0.85, t, True) == "silver"
    assert medal_for(0.7, t, True) == "bronze"
    assert medal_for(0.69, t, True) is None
    lt = MedalThresholds(gold=1.0, silver=2.0, bronze=3.0, median=4.0)
    assert medal_for(2.0, lt, False) == "silver"
    assert medal_for(3.5, lt, False) is None


def test_crowded_board_ties_give_the_better_medal() -> None:
    # silver and bronze thresholds equal: a tie earns silver, never both
    t = MedalThresholds(gold=0.9566, silver=0.95658, bronze=0.95658, median=0.95342)
    assert medal_for(0.95658, t, True) == "silver"


def test_above_median_is_strict() -> None:
    board = [4.0, 3.0, 2.0, 1.0]  # median 2.5
    assert rank_score(2.5, board, True).above_median is False
    assert rank_score(2.6, board, True).above_median is True
    assert rank_score(2.4, board, False).above_median is True


def test_rank_score_bundles_everything() -> None:
    r = rank_score(9.0, list(range(1, 11)), higher_is_better=True)
    assert r.n_entries == 10 and r.beaten_by == 1 and r.human_rank == 0.9
    assert r.medal == "silver" and r.above_median


# ----------------------------------------------------------------- real boards


@pytest.mark.skipif(not SUMMARY.is_file(), reason=f"shared leaderboards not found at {MLEBENCH}")
@pytest.mark.parametrize(
    ("comp", "teams", "lower_better", "gold", "silver", "bronze", "median"),
    summary_rows() or [pytest.param(*[None] * 7, marks=pytest.mark.skip("no _summary.csv"))],
)
def test_thresholds_match_mlebench_summary(
    comp: str,
    teams: int,
    lower_better: bool,
    gold: float,
    silver: float,
    bronze: float,
    median: float,
) -> None:
    scores = load_leaderboard(MLEBENCH / f"{comp}.csv")
    assert scores.size == teams
    t = medal_thresholds(scores, higher_is_better=not lower_better)
    assert t.gold == pytest.approx(gold, abs=1e-9, rel=1e-12)
    assert t.silver == pytest.approx(silver, abs=1e-9, rel=1e-12)
    assert t.bronze == pytest.approx(bronze, abs=1e-9, rel=1e-12)
    assert t.median == pytest.approx(median, abs=1e-9, rel=1e-12)


@pytest.mark.skipif(not SUMMARY.is_file(), reason=f"shared leaderboards not found at {MLEBENCH}")
def test_summary_covers_81_competitions() -> None:
    assert len(summary_rows()) == 81


# ----------------------------------------------------------------- leaderboard files


def test_load_mledojo_format(tmp_path: Path) -> None:
    path = tmp_path / "private_leaderboard.csv"
    path.write_text("rank,score\n1,0.9\n2,0.8\n")
    assert load_leaderboard(path).tolist() == [0.9, 0.8]


def test_load_mlebench_format_drops_unscored_rows(tmp_path: Path) -> None:
    path = tmp_path / "lb.csv"
    path.write_text(
        "scoreNullable,teamId,hasTeamName,submissionDate,score,hasScore\n"
        "0.9,1,True,2020-01-01,0.9,True\n"
        ",2,True,2020-01-01,,False\n"
        "0.7,3,False,2020-01-02,0.7,True\n"
    )
    assert load_leaderboard(path).tolist() == [0.9, 0.7]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("team,points\na,1\n", "has columns"),
        ("rank,score\n1,abc\n", "'abc'"),
        ("rank,score\n", "no scored entries"),
        ("", "not a readable CSV"),
    ],
)
def test_broken_leaderboard_names_the_file(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "broken_board.csv"
    path.write_text(text)
    with pytest.raises(GradingError) as info:
        load_leaderboard(path)
    assert "broken_board.csv" in str(info.value) and needle in str(info.value)


def test_missing_leaderboard_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(GradingError, match="nowhere.csv"):
        load_leaderboard(tmp_path / "nowhere.csv")


def test_scores_within_tie_tolerance_tie() -> None:
    from mledojo.grading.rank import human_rank, rank_score

    board = [0.0, 0.0, 0.1, 0.2, 0.3]
    assert human_rank(1e-13, board, higher_is_better=False) == 1.0
    assert rank_score(1e-13, board, higher_is_better=False).medal == "gold"
    assert human_rank(1e-6, board, higher_is_better=False) == pytest.approx(3 / 5)
