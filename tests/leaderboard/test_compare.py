"""`compare`: per-competition deltas and Welch's t-test over seeds, by hand."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from mledojo.leaderboard import LeaderboardError
from mledojo.leaderboard.compare import compare_runs, holm, welch_p

WriteEpisode = Callable[..., Path]


def _t4_two_sided(t: float) -> float:
    """Two-sided p of Student's t with 4 degrees of freedom (closed form)."""
    # CDF for nu = 4: 1/2 + (3/4) x (1 - x^2 / 3), x = t / sqrt(4 + t^2)
    x = t / math.sqrt(4 + t * t)
    cdf = 0.5 + 0.75 * x * (1 - x * x / 3)
    return 2 * (1 - cdf)


def test_welch_by_hand() -> None:
    # means 0.4 and 0.7, both sample variances 0.04: t = 0.3 / sqrt(0.04/3 + 0.04/3) = 1.8371,
    # Welch-Satterthwaite df = 4 exactly (equal variances and sizes)
    a, b = [0.2, 0.4, 0.6], [0.5, 0.7, 0.9]
    t = 0.3 / math.sqrt(0.08 / 3)
    p, note = welch_p(a, b)
    assert p == pytest.approx(_t4_two_sided(t), rel=1e-9)
    assert p == pytest.approx(0.1401, abs=1e-4) and note == ""


def test_welch_undefined_cases_say_why() -> None:
    assert welch_p([0.5], [0.1, 0.2]) == (None, "needs at least 2 seeds in each run")
    assert welch_p([0.5, 0.5], [0.5, 0.5]) == (None, "identical on every seed")
    assert welch_p([0.5, 0.5], [0.2, 0.2]) == (None, "no spread over seeds in either run")


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.02, 0.04 -> x3, x2, x1 = 0.03, 0.04, 0.04 (monotone)
    assert holm([0.04, None, 0.01, 0.02]) == pytest.approx([0.04, None, 0.03, 0.04])


def test_compare_runs_counts_missing_seeds_as_zero(write_episode: WriteEpisode) -> None:
    for seed, hr in enumerate([0.2, 0.4, 0.6]):
        run_a = write_episode("runA", "c1", "old", seed, hr=hr, score=hr).parents[2]
        write_episode("runB", "c1", "new", seed, hr=hr + 0.3, score=hr + 0.3)
    write_episode("runA", "c2", "old", 0, hr=0.5)
    write_episode("runA", "c2", "old", 1, hr=0.5)
    write_episode("runA", "c2", "old", 2, hr=0.5)
    write_episode("runB", "c2", "new", 0, hr=0.9)  # seeds 1 and 2 of c2 are missing in B
    cmp = compare_runs(run_a, run_a.with_name("runB"))
    c1, c2 = cmp.deltas
    assert c1.delta == pytest.approx(0.3) and c1.raw_delta == pytest.approx(0.3)
    assert c1.p_value == pytest.approx(0.1401, abs=1e-4)
    assert c2.mean_b == pytest.approx(0.3)  # (0.9 + 0 + 0) / 3
    assert c2.delta == pytest.approx(-0.2)
    assert c2.p_value is not None and c2.p_holm is not None and c2.p_holm >= c2.p_value
    assert cmp.overall_delta == pytest.approx(0.05)
    assert (cmp.agent_a, cmp.agent_b) == ("old", "new")


def test_a_run_with_several_agents_needs_a_choice(write_episode: WriteEpisode) -> None:
    a = write_episode("runA", "c1", "one", 0, hr=0.1).parents[2]
    write_episode("runA", "c1", "two", 0, hr=0.2)
    b = write_episode("runB", "c1", "three", 0, hr=0.3).parents[2]
    with pytest.raises(LeaderboardError, match="several agents.*--agent-a"):
        compare_runs(a, b)
    assert compare_runs(a, b, agent_a="two").deltas[0].mean_a == pytest.approx(0.2)
    with pytest.raises(LeaderboardError, match="no episode of agent `nine`"):
        compare_runs(a, b, agent_a="nine")
