"""Placing a score on a leaderboard: HumanRank, medals and "above median".

HumanRank (MLE-Dojo's position score): with N entries and p = 1 + the number of entries that
strictly beat the score, HumanRank = (N - p + 1) / N. Ties with an entry do not cost a place.

Medals follow MLE-bench's reading of Kaggle's progression table. The board is sorted best
first; each threshold is the score *at a position* of that sorted board (positions use
integer truncation, 1-based):

    N < 100         gold max(1, int(0.1 N))   silver max(1, int(0.2 N))   bronze max(1, int(0.4 N))
    100 <= N < 250  gold 10                   silver max(1, int(0.2 N))   bronze max(1, int(0.4 N))
    250 <= N < 1000 gold 10 + int(0.002 N)    silver 50                   bronze 100
    N >= 1000       gold 10 + int(0.002 N)    silver max(1, int(0.05 N))  bronze max(1, int(0.1 N))

A score equal to a threshold earns that medal; the best medal earned is reported. "Above
median" is strict: the score must beat the median of all board scores. A truncated board
(only the top of the field listed) takes its positions with the real team count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from mledojo.errors import GradingError

Medal = Literal["gold", "silver", "bronze"]


class MedalThresholds(BaseModel):
    """Scores needed for each medal and the board median (in the metric's own units)."""

    model_config = ConfigDict(frozen=True)

    gold: float
    silver: float
    bronze: float
    median: float


class RankResult(BaseModel):
    """Where one score lands on one leaderboard."""

    model_config = ConfigDict(frozen=True)

    score: float
    higher_is_better: bool
    n_entries: int
    beaten_by: int
    human_rank: float
    medal: Medal | None
    above_median: bool
    thresholds: MedalThresholds


def _board(scores: Sequence[float] | npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Leaderboard scores as a non-empty float array without NaN."""
    board = np.asarray(scores, dtype=np.float64).ravel()
    if board.size == 0:
        raise GradingError("the leaderboard is empty; it needs at least one scored entry")
    if np.isnan(board).any():
        raise GradingError("the leaderboard holds NaN scores; drop entries without a score")
    return board


def _check_score(score: float) -> float:
    if not math.isfinite(score):
        raise GradingError(f"cannot rank a non-finite score ({score})")
    return float(score)


#: Scores closer than this are a tie. Boards show at most 5-6 decimals, while a metric can
#: land a hair off a round value (a perfect log loss is ~1e-15 after clipping, not 0).
TIE_TOLERANCE = 1e-9


def _count_better(board: npt.NDArray[np.float64], score: float, higher_is_better: bool) -> int:
    """How many board entries are strictly better than `score` (beyond the tie tolerance)."""
    if higher_is_better:
        better = board > score + TIE_TOLERANCE
    else:
        better = board < score - TIE_TOLERANCE
    return int(np.count_nonzero(better))


def _better(a: float, b: float, higher_is_better: bool) -> bool:
    """Whether score `a` is strictly better than `b` (beyond the tie tolerance)."""
    return a > b + TIE_TOLERANCE if higher_is_better else a < b - TIE_TOLERANCE


def _ties(a: float, b: float) -> bool:
    return abs(a - b) <= TIE_TOLERANCE


def human_rank(
    score: float, scores: Sequence[float] | npt.NDArray[np.floating], higher_is_better: bool
) -> float:
    """(N - p + 1) / N with p = 1 + the number of entries strictly better than `score`."""
    board = _board(scores)
    s = _check_score(score)
    better = _count_better(board, s, higher_is_better)
    n = board.size
    p = 1 + better
    return (n - p + 1) / n


def medal_positions(n: int) -> tuple[int, int, int]:
    """1-based board positions whose scores are the gold, silver and bronze thresholds."""
    if n < 1:
        raise GradingError("a leaderboard needs at least one entry for medal thresholds")
    if n < 100:
        return max(1, int(0.1 * n)), max(1, int(0.2 * n)), max(1, int(0.4 * n))
    if n < 250:
        return 10, max(1, int(0.2 * n)), max(1, int(0.4 * n))
    if n < 1000:
        return 10 + int(0.002 * n), 50, 100
    return 10 + int(0.002 * n), max(1, int(0.05 * n)), max(1, int(0.1 * n))


def sort_best_first(
    scores: Sequence[float] | npt.NDArray[np.floating], higher_is_better: bool
) -> npt.NDArray[np.float64]:
    """The board sorted from the best score to the worst, by the declared direction."""
    board = np.sort(_board(scores), kind="stable")
    return board[::-1] if higher_is_better else board


def medal_thresholds(
    scores: Sequence[float] | npt.NDArray[np.floating],
    higher_is_better: bool,
    *,
    teams: int | None = None,
) -> MedalThresholds:
    """Gold / silver / bronze thresholds (scores at the table's positions) and the median.

    `teams`: the real size of the field when `scores` is only its top (a truncated board).
    The positions are then MLE-bench's for N = `teams` (a truncated board's own row count
    would put bronze at the top 10 % of the top third), read from the listed rows, and the
    median is the real field's when it is listed, else the last listed score (every score
    better than that one beats the real median; one not better is not credited).
    """
    board = sort_best_first(scores, higher_is_better)
    n = board.size if teams is None else teams
    if n < board.size:
        raise GradingError(
            f"the leaderboard lists {board.size} scored entries but `teams` is {n}; "
            "set `leaderboard.teams` in competition.yaml to the real team count (or drop it)"
        )
    positions = medal_positions(n)
    if positions[2] > board.size:
        raise GradingError(
            f"a field of {n} teams puts bronze at position {positions[2]}, past the "
            f"{board.size} listed entries: the truncated board cannot give its thresholds"
        )
    gold, silver, bronze = (float(board[p - 1]) for p in positions)
    if teams is None:
        median = float(np.median(board))
    else:
        median = float(board[min(board.size, (n + 1) // 2) - 1])
    return MedalThresholds(gold=gold, silver=silver, bronze=bronze, median=median)


def medal_for(score: float, thresholds: MedalThresholds, higher_is_better: bool) -> Medal | None:
    """The best medal whose threshold the score reaches (equal counts)."""
    s = _check_score(score)
    levels: tuple[tuple[Medal, float], ...] = (
        ("gold", thresholds.gold),
        ("silver", thresholds.silver),
        ("bronze", thresholds.bronze),
    )
    for name, thr in levels:
        if _ties(s, thr) or _better(s, thr, higher_is_better):
            return name
    return None


def rank_score(
    score: float,
    scores: Sequence[float] | npt.NDArray[np.floating],
    higher_is_better: bool,
    *,
    teams: int | None = None,
    medals: bool = True,
) -> RankResult:
    """HumanRank, medal and above-median of `score` against a leaderboard.

    `teams`: the real field's size for a truncated board (see `medal_thresholds`; HumanRank
    stays relative to the listed entries). `medals=False`: a competition that awards none
    (its thresholds are still reported, its medal is always None).
    """
    board = _board(scores)
    s = _check_score(score)
    thresholds = medal_thresholds(board, higher_is_better, teams=teams)
    better = _count_better(board, s, higher_is_better)
    return RankResult(
        score=s,
        higher_is_better=higher_is_better,
        n_entries=int(board.size),
        beaten_by=better,
        human_rank=human_rank(s, board, higher_is_better),
        medal=medal_for(s, thresholds, higher_is_better) if medals else None,
        above_median=_better(s, thresholds.median, higher_is_better),
        thresholds=thresholds,
    )
