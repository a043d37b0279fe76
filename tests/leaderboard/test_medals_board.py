"""The board reads medal status and ceilings from the competitions themselves.

Episodes on installed competitions (spaceship-titanic: informative medals, ceiling 0.94272;
bike-sharing-demand: uninformative medals), built through `build_board` and rendered.
"""

from __future__ import annotations

from collections.abc import Callable

from mledojo.leaderboard.episode import BoardEpisode
from mledojo.leaderboard.render import render_html, render_markdown
from mledojo.leaderboard.stats import build_board

Make = Callable[..., BoardEpisode]


def test_a_score_past_the_ceiling_is_suspect_whatever_its_record_says(
    make_episode: Make,
) -> None:
    """A cross-seed lookup (0.987 on spaceship, Kaggle's best 0.828) in a record that says
    `implausible: false` (written before the ceiling existed, or by hand): labelled suspect,
    counted as HumanRank 0 and no medal, ranked below an honest agent."""
    eps = [
        make_episode(
            "lookup",
            "spaceship-titanic",
            s,
            1.0,
            competition_version=1,
            private_score=0.987,
            medal="gold",
            above_median=True,
        )
        for s in (0, 1)
    ] + [
        make_episode(
            "honest", "spaceship-titanic", s, 0.8, competition_version=1, private_score=0.80
        )
        for s in (0, 1)
    ]
    (cls,) = build_board(eps, bootstrap=0).classes
    assert [a.agent for a in cls.agents] == ["honest", "lookup"]
    lookup = next(a for a in cls.agents if a.agent == "lookup")
    assert lookup.suspect == 2 and lookup.human_rank.mean == 0.0 and lookup.any_medal_rate == 0
    (comp,) = cls.competitions
    row = next(s for s in comp.stats if s.agent == "lookup")
    assert row.suspect == 2 and "suspect" in comp.flags
    assert "2 suspect" in render_markdown(build_board(eps, bootstrap=0))


def test_uninformative_medals_are_kept_out_of_the_medal_rate(make_episode: Make) -> None:
    """bike-sharing's gold (a default model beats every human there) is reported apart; the
    agent's medal rate counts only spaceship, where it earned nothing."""
    eps = [
        make_episode(
            "a",
            "bike-sharing-demand",
            0,
            1.0,
            competition_version=1,
            private_score=0.3,
            medal="gold",
        ),
        make_episode("a", "spaceship-titanic", 0, 0.5, competition_version=1, private_score=0.8),
    ]
    board = build_board(eps, bootstrap=0)
    (agent,) = board.classes[0].agents
    assert agent.any_medal_rate == 0.0 and agent.gold_rate == 0.0
    assert agent.uninformative_medal_rate == 1.0
    medals = {c.competition: c.medals for c in board.classes[0].competitions}
    assert medals == {"bike-sharing-demand": "uninformative", "spaceship-titanic": "informative"}
    for page in (render_markdown(board), render_html(board)):
        assert "medals uninformative" in page
