"""Reward modes: how an episode's scores become Gymnasium rewards.

`final_only` (the default) is zero until the end, then the private HumanRank: one number
per episode, so the reward reveals nothing about single rows of the test set. In
`evaluation` mode (the default on the evaluation split) it stays zero: no private grade
reaches the agent, so the hidden rows never become feedback across episodes.
`human_rank_delta` is the improvement of the best public HumanRank (an episode's return
equals its best public HumanRank); `raw_delta` the improvement of the best public raw
score (positive = better, whatever the direction); `position` the public HumanRank of each
graded step (MLE-Dojo's reward).

The three public modes are opt-in: they pay for public scores, which an agent can probe
(each graded submission is a question about the hidden public rows), so choosing one warns
(`warnings.warn`) and the episode's `result.json` carries `reward_warning`.
"""

from __future__ import annotations

from typing import Literal, cast

from mledojo.competition import MetricSpec
from mledojo.errors import did_you_mean
from mledojo.grading.scoring import GradeReport

RewardMode = Literal["final_only", "human_rank_delta", "raw_delta", "position"]
REWARD_MODES: tuple[str, ...] = RewardMode.__args__  # type: ignore[attr-defined]
PUBLIC_REWARD_MODES: tuple[RewardMode, ...] = ("human_rank_delta", "raw_delta", "position")


def reward_warning(mode: RewardMode) -> str | None:
    """The warning a public reward mode carries (None for `final_only`)."""
    if mode not in PUBLIC_REWARD_MODES:
        return None
    return (
        f"reward mode `{mode}` pays for public scores: each graded submission (from a code "
        "cell or a tool, at most Budget.public_grades per episode) is a question about the "
        "hidden public rows, and an RL agent rewarded per step learns to ask them. Use "
        "`final_only` for training unless dense public feedback is what you study."
    )


def reward_mode(name: str) -> RewardMode:
    """`name` checked against the known modes (a typo is an error with a suggestion)."""
    if name not in REWARD_MODES:
        _, hint = did_you_mean(str(name), REWARD_MODES)
        raise ValueError(
            f"unknown reward mode {name!r}.{hint} Use one of: {', '.join(REWARD_MODES)}"
        )
    return cast(RewardMode, name)


def step_reward(
    mode: RewardMode,
    metric: MetricSpec,
    report: GradeReport,
    old_score: float | None,
    old_hr: float | None,
) -> float:
    """The reward of one graded public submission, given the best so far."""
    if mode == "human_rank_delta":
        return max(0.0, (report.human_rank or 0.0) - (old_hr or 0.0))
    if mode == "raw_delta":
        if old_score is None:
            return 0.0
        return max(0.0, metric.gain(report.score, old_score))
    if mode == "position":
        return report.human_rank or 0.0
    return 0.0
