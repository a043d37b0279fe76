"""Which score is better is decided by the metric spec, and every call site asks it.

One test per kind of call site: the spec itself, the scorer (the episode's "new best"),
the reward (raw-delta gain; the episode's "new best" is `Scorer.better`, which returns
`spec.metric.better`), the bot (best experiment, plateau gain, report order). Each
uses a lower-is-better metric, where a hard-coded `>` gives the wrong answer.
"""

from __future__ import annotations

import pytest

from mledojo.bot.context import context_from_profile
from mledojo.bot.report import ranking
from mledojo.bot.rules import best_of, rules_review
from mledojo.bot.schemas import BotState, ExperimentPlan, ExperimentRecord
from mledojo.competition import MetricSpec
from mledojo.grading.scoring import GradeReport
from mledojo.rewards import step_reward

HIGHER = MetricSpec(name="roc_auc", higher_is_better=True)
LOWER = MetricSpec(name="rmse", higher_is_better=False)


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [(HIGHER, 0.9, 0.8), (LOWER, 0.8, 0.9)],
)
def test_the_spec_decides_better_best_gain_and_order(
    spec: MetricSpec, good: float, bad: float
) -> None:
    assert spec.better(good, bad) and not spec.better(bad, good)
    assert not spec.better(good, good)  # strictly better
    assert spec.at_or_past(good, bad) and spec.at_or_past(good, good)
    assert not spec.at_or_past(bad, good)
    assert spec.gain(good, bad) == pytest.approx(0.1)
    assert spec.gain(bad, good) == pytest.approx(-0.1)
    assert sorted([bad, good], key=spec.sort_key) == [good, bad]
    assert spec.best([bad, good, bad]) == good
    assert spec.best([]) is None
    items = [("first", good), ("second", good), ("worse", bad)]
    assert spec.best_by(items, lambda t: t[1]) == ("first", good)  # the first on ties


def test_implausibility_follows_the_direction() -> None:
    low = MetricSpec(name="rmse", higher_is_better=False, implausible_beyond=0.1)
    assert low.is_implausible(0.05) and not low.is_implausible(0.2)
    high = MetricSpec(name="accuracy", higher_is_better=True, implausible_beyond=0.99)
    assert high.is_implausible(0.995) and not high.is_implausible(0.9)


def _report(score: float) -> GradeReport:
    return GradeReport(
        competition="c", score=score, part="public", metric="rmse", higher_is_better=False
    )


def test_raw_delta_reward_pays_a_lower_error_and_not_a_higher_one() -> None:
    assert step_reward("raw_delta", LOWER, _report(0.7), 1.0, None) == pytest.approx(0.3)
    assert step_reward("raw_delta", LOWER, _report(1.3), 1.0, None) == 0.0
    assert step_reward("raw_delta", HIGHER, _report(0.7), 1.0, None) == 0.0


TASK = {
    "targets": ["y"],
    "id_column": "id",
    "task": "regression",
    "metric": "rmse",
    "higher_is_better": False,
}


def _record(name: str, score: float | None, iteration: int = 1) -> ExperimentRecord:
    plan = ExperimentPlan(name=name, algorithm="lightgbm", feature_strategy="raw", rationale="r")
    return ExperimentRecord(
        iteration=iteration, plan=plan, status="ok" if score is not None else "failed", score=score
    )


def test_the_bot_picks_ranks_and_reviews_by_the_spec() -> None:
    ctx = context_from_profile(TASK, {"column_profiles": {}})
    assert ctx.metric_spec == LOWER
    history = [_record("big", 3.0), _record("small", 1.0), _record("broken", None)]
    best = best_of(history, ctx.metric_spec)
    assert best is not None and best.plan.name == "small"
    state = BotState(key="k", model="rules", problem="p", profile={}, experiments=history)
    assert [e.plan.name for e in ranking(state, ctx.metric_spec)] == ["small", "big", "broken"]
    worse = [*history, _record("worse", 5.0, iteration=2)]
    assert rules_review(ctx, worse, 2, 5).decision == "stop"  # no gain: a plateau
    better = [*history, _record("better", 0.5, iteration=2)]
    assert rules_review(ctx, better, 2, 5).decision == "continue"
