"""Leaderboard statistics against hand-computed examples."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np
import pytest

from mledojo.leaderboard import LeaderboardError
from mledojo.leaderboard.episode import BoardEpisode
from mledojo.leaderboard.stats import BoardSpec, build_board, elo_ratings, mean_se

Make = Callable[..., BoardEpisode]


def test_mean_se_by_hand() -> None:
    # 0.2, 0.4, 0.9: mean 0.5; deviations -0.3, -0.1, 0.4; sum of squares 0.26;
    # sample variance 0.13; SE = sqrt(0.13 / 3) = 0.20817
    v = mean_se([0.2, 0.4, 0.9])
    assert v.mean == pytest.approx(0.5)
    assert v.se == pytest.approx(math.sqrt(0.13 / 3))
    assert v.n == 3
    assert mean_se([0.7]).se is None  # one seed: no spread to estimate


def test_missing_failed_and_suspect_episodes_count_as_zero(make_episode: Make) -> None:
    eps = [
        make_episode("a", "c1", 0, 0.9),
        make_episode("a", "c1", 1, 0.6),
        # seed 2 of agent a is missing; b ran all three
        make_episode("b", "c1", 0, 0.3),
        make_episode("b", "c1", 1, None, status="agent_error"),  # crashed, ungraded
        make_episode("b", "c1", 2, 1.0, implausible=True),  # suspect: counts as 0
    ]
    board = build_board(eps, bootstrap=0)
    stats = {s.agent: s for s in board.classes[0].competitions[0].stats}
    # a: (0.9 + 0.6 + 0) / 3 = 0.5; SE: deviations .4 .1 -.5 -> ss .42, var .21, sqrt(.21/3)
    assert stats["a"].human_rank.mean == pytest.approx(0.5)
    assert stats["a"].human_rank.se == pytest.approx(math.sqrt(0.21 / 3))
    assert (stats["a"].expected, stats["a"].present, stats["a"].scored) == (3, 2, 2)
    # b: (0.3 + 0 + 0) / 3 = 0.1
    assert stats["b"].human_rank.mean == pytest.approx(0.1)
    assert (stats["b"].present, stats["b"].scored) == (3, 1)
    # raw score: the mean over graded, non-suspect episodes only
    assert stats["a"].score is not None and stats["a"].score.mean == pytest.approx(0.75)
    assert stats["b"].score is not None and stats["b"].score.mean == pytest.approx(0.3)
    summary = {s.agent: s for s in board.classes[0].agents}
    assert summary["b"].reported_agent_errors == 1 and summary["b"].suspect == 1
    assert [s.agent for s in board.classes[0].agents] == ["a", "b"]


def test_medal_and_above_median_rates_over_expected_seeds(make_episode: Make) -> None:
    eps = [
        make_episode("a", "c1", 0, 0.95, medal="gold", above_median=True),
        make_episode("a", "c1", 1, 0.80, medal="bronze", above_median=True),
        make_episode("a", "c1", 2, 0.40, medal=None, above_median=False),
        make_episode("a", "c2", 0, 0.99, medal="gold", above_median=True, implausible=True),
        make_episode("a", "c2", 1, 0.70, medal="silver", above_median=True),
        # a c2 seed 2 missing
    ]
    board = build_board(eps, bootstrap=0)
    by_comp = {c.competition: c.stats[0] for c in board.classes[0].competitions}
    assert by_comp["c1"].any_medal_rate == pytest.approx(2 / 3)
    assert by_comp["c1"].gold_rate == pytest.approx(1 / 3)
    assert by_comp["c1"].above_median_rate == pytest.approx(2 / 3)
    # c2: the suspect gold does not count, the missing seed does count (as nothing)
    assert by_comp["c2"].any_medal_rate == pytest.approx(1 / 3)
    assert by_comp["c2"].gold_rate == 0.0
    agent = board.classes[0].agents[0]
    # overall: 3 medals (gold, bronze, silver) out of 6 expected episodes; 1 gold
    assert agent.any_medal_rate == pytest.approx(3 / 6)
    assert agent.gold_rate == pytest.approx(1 / 6)
    assert agent.above_median_rate == pytest.approx(3 / 6)
    # overall mean HumanRank: per seed the mean over competitions, then mean ± SE over seeds
    # seed 0: (0.95 + 0) / 2 = .475; seed 1: (.8 + .7) / 2 = .75; seed 2: (.4 + 0) / 2 = .2
    per_seed = [0.475, 0.75, 0.2]
    assert agent.human_rank.mean == pytest.approx(np.mean(per_seed))
    assert agent.human_rank.se == pytest.approx(np.std(per_seed, ddof=1) / math.sqrt(3))


def test_elo_two_agents_closed_form() -> None:
    # A beats B on 2 competitions, loses 1, draws 1. With the virtual draw per pair,
    # Bradley-Terry gives p_A / p_B = (2 + 0.5 + 0.5) / (1 + 0.5 + 0.5) = 3 / 2, so the
    # ratings are 1000 ± 200 log10(1.5) = 1035.218 / 964.782.
    values = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.5], [0.5, 0.5]])
    a, b = elo_ratings(values, bootstrap=0)
    half = 200 * math.log10(1.5)
    assert a.rating == pytest.approx(1000 + half, abs=1e-6)
    assert b.rating == pytest.approx(1000 - half, abs=1e-6)


def test_elo_perfect_record_stays_finite_and_orders_three_agents() -> None:
    # Three competitions; A > B > C everywhere. With one virtual draw per pair, A scores
    # 3.5 of 4 against each, so A's rating is finite and above B's, above C's; mean 1000.
    values = np.array([[0.9, 0.5, 0.1], [0.8, 0.6, 0.2], [0.7, 0.4, 0.3]])
    r = [e.rating for e in elo_ratings(values, bootstrap=0)]
    assert r[0] > r[1] > r[2]
    assert all(math.isfinite(x) for x in r)
    assert np.mean(r) == pytest.approx(1000.0)
    assert r[0] - r[1] == pytest.approx(r[1] - r[2], abs=1e-6)  # symmetric record


def test_elo_bootstrap_is_seeded_and_brackets_the_rating() -> None:
    rng = np.random.default_rng(5)
    values = rng.random((8, 3))
    first = elo_ratings(values, bootstrap=300, seed=7)
    again = elo_ratings(values, bootstrap=300, seed=7)
    other = elo_ratings(values, bootstrap=300, seed=8)
    assert first == again
    assert first != other
    for e in first:
        assert e.low <= e.rating <= e.high
        assert e.high - e.low > 0


def test_only_like_is_compared_budget_classes_apart(make_episode: Make) -> None:
    eps = [
        make_episode("a", "c1", 0, 0.9, budget_class="small"),
        make_episode("b", "c1", 0, 0.1, budget_class="small"),
        make_episode("c", "c1", 0, 0.5, budget_class="large"),
    ]
    board = build_board(eps, bootstrap=50)
    classes = {cb.spec.budget_class: [a.agent for a in cb.agents] for cb in board.classes}
    assert classes == {"large": ["c"], "small": ["a", "b"]}
    large = next(cb for cb in board.classes if cb.spec.budget_class == "large")
    assert large.agents[0].elo.rating == 1000.0  # alone in its class: nothing to compare


def test_a_given_spec_counts_unrun_competitions_and_seeds_as_zero(make_episode: Make) -> None:
    eps = [make_episode("a", "c1", 0, 0.8)]
    spec = BoardSpec(budget_class="default", competitions=["c1", "c2"], seeds=[0, 1])
    board = build_board(eps, [spec], bootstrap=0)
    agent = board.classes[0].agents[0]
    assert agent.human_rank.mean == pytest.approx(0.8 / 4)  # one of four episodes
    assert agent.expected == 4 and agent.present == 1
    assert not board.classes[0].spec.inferred


def test_episodes_outside_a_given_spec_are_refused(make_episode: Make) -> None:
    spec = BoardSpec(budget_class="default", competitions=["c1"], seeds=[0])
    with pytest.raises(LeaderboardError, match=r"seeds \[7\]"):
        build_board([make_episode("a", "c1", 7, 0.8)], [spec], bootstrap=0)


def test_a_second_episode_for_the_same_seed_is_refused(make_episode: Make) -> None:
    eps = [
        make_episode("a", "c1", 0, 0.2, source="run1/result.json"),
        make_episode("a", "c1", 0, 0.9, source="run2/result.json"),
    ]
    with pytest.raises(LeaderboardError, match="run1/result.json and run2/result.json"):
        build_board(eps)


def test_two_versions_of_a_competition_are_refused(make_episode: Make) -> None:
    eps = [
        make_episode("a", "c1", 0, 0.2, competition_version=1),
        make_episode("b", "c1", 0, 0.9, competition_version=2),
    ]
    with pytest.raises(LeaderboardError, match="different versions"):
        build_board(eps)


def test_board_flags_follow_the_caveats(make_episode: Make) -> None:
    eps = [
        make_episode("a", "kag", 0, 0.5, caveats=["Approximate: mledojo scores a re-split."]),
        make_episode(
            "a", "tit", 0, 0.5, caveats=["Approximate: x", "Truncated board: only the top."]
        ),
        make_episode("a", "ref", 0, 0.5, leaderboard_kind="reference"),
    ]
    flags = {c.competition: c.flags for c in build_board(eps, bootstrap=0).classes[0].competitions}
    assert flags == {
        "kag": ["approximate"],
        "tit": ["approximate", "truncated"],
        "ref": ["reference"],
    }


def test_anytime_curves_average_seeds_with_missing_as_zero(make_episode: Make) -> None:
    from mledojo.leaderboard.episode import AnytimePoint as P

    eps = [
        make_episode("a", "c1", 0, 0.5, anytime=[P(elapsed_s=10, usd=1, best_human_rank=0.4)]),
        make_episode(
            "a",
            "c1",
            1,
            0.5,
            anytime=[
                P(elapsed_s=5, usd=0.5, best_human_rank=0.2),
                P(elapsed_s=20, usd=2, best_human_rank=0.8),
            ],
        ),
        make_episode("b", "c1", 2, 0.1),  # gives a third seed: a's seed 2 is missing
    ]
    comp = build_board(eps, bootstrap=0).classes[0].competitions[0]
    curve = next(c for c in comp.time_curves if c.agent == "a")
    got = {p.x: p.y for p in curve.points}
    # x: 0, 5, 10, 20; seeds 0, 1, 2 (missing): mean of the best by x
    assert got == pytest.approx({0.0: 0.0, 5.0: 0.2 / 3, 10.0: 0.6 / 3, 20.0: 1.2 / 3})
    usd = next(c for c in comp.usd_curves if c.agent == "a")
    assert {p.x: p.y for p in usd.points}[2.0] == pytest.approx(1.2 / 3)


def test_same_input_same_board(make_episode: Make) -> None:
    eps = [make_episode(a, c, s, (s + 1) / 4) for a in "ab" for c in ("c1", "c2") for s in (0, 1)]
    assert build_board(eps, bootstrap=100) == build_board(list(reversed(eps)), bootstrap=100)


def test_elo_interval_covers_seed_noise() -> None:
    # A is ahead on every competition's mean, but its seeds overlap B's: resampling seeds
    # sometimes flips a competition, so the interval is wide; with no overlap it is a point.
    noisy = np.array([[[0.9, 0.2, 0.6], [0.5, 0.4, 0.45]]] * 4)
    clean = np.array([[[0.9, 0.9, 0.9], [0.1, 0.1, 0.1]]] * 4)
    a_noisy, _ = elo_ratings(noisy, bootstrap=400, seed=1)
    a_clean, _ = elo_ratings(clean, bootstrap=400, seed=1)
    assert a_noisy.rating == pytest.approx(a_clean.rating)  # same record on the means
    assert a_clean.high - a_clean.low == pytest.approx(0.0)
    assert a_noisy.low < 1000 < a_noisy.high


def test_rows_carry_two_level_intervals_and_old_episodes_keep_their_digest(
    make_episode: Make,
) -> None:
    """A row's raw score and medal rate get intervals from episodes and their rows; an
    episode without intervals (an older result) counts as certain and digests as before."""
    from mledojo.grading.intervals import board_mean_interval, board_rate_interval
    from mledojo.leaderboard.stats import input_digest

    chances = {"gold": 0.1, "silver": 0.3, "bronze": 0.6}
    eps = [
        make_episode("a", "c1", s, 0.6 + 0.05 * s, medal="bronze" if s else None).model_copy(
            update={"interval": (0.5 + 0.05 * s, 0.7 + 0.05 * s)}
        )
        for s in range(4)
    ]
    eps[1] = BoardEpisode.model_validate({**eps[1].model_dump(), "medal_probabilities": chances})
    board = build_board(eps, bootstrap=0)
    row = board.classes[0].competitions[0].stats[0]
    scores = [0.6, 0.65, 0.7, 0.75]
    expected = board_mean_interval(scores, [e.interval for e in eps])
    assert row.score_interval == pytest.approx(expected)
    assert row.score_interval[0] < np.mean(scores) < row.score_interval[1]
    assert row.any_medal_rate_interval == pytest.approx(board_rate_interval([0, 0.6, 1, 1]))
    summary = board.classes[0].agents[0]
    assert summary.any_medal_rate_interval == row.any_medal_rate_interval  # one competition
    plain = [make_episode("a", "c1", s, 0.5) for s in range(2)]
    digest = input_digest(plain)
    h = hashlib.sha256()  # the digest before intervals existed: the fields were not there
    new_fields = {"source", "interval", "medal_probabilities"}
    for line in sorted(e.model_dump_json(exclude=new_fields) for e in plain):
        h.update(line.encode() + b"\n")
    assert digest == h.hexdigest()
    with_iv = [plain[0].model_copy(update={"interval": (0.4, 0.6)}), plain[1]]
    assert input_digest(with_iv) != digest


@pytest.mark.parametrize(
    "bad",
    [
        {"interval": [0.9, 0.1]},
        {"interval": [float("nan"), 0.5]},
        {"medal_probabilities": {"gold": 2.0, "silver": 0.5, "bronze": 0.5}},
        {"medal_probabilities": {"gold": 0.1, "silver": 0.5, "bronze": 0.5, "x": 1}},
    ],
)
def test_a_board_episode_refuses_broken_intervals(make_episode: Make, bad: dict) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        BoardEpisode.model_validate({**make_episode("a", "c1", 0, 0.5).model_dump(), **bad})
