"""The bot's planners: one interface, filled by the rules or by an LLM.

The LLM planner sends only the problem statement, the profile (aggregates from the
trusted `profile_dataset` tool), the tool definitions and the metrics of finished
experiments. No row of data ever goes into a prompt: the bot never reads the data itself.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from mledojo.bot.context import TaskContext
from mledojo.bot.rules import rules_code, rules_design, rules_review
from mledojo.bot.schemas import Design, ExperimentPlan, ExperimentRecord, OrchestrationCode, Review
from mledojo.llm import LLMClient, Message

EXPERIMENT_TOOLS = (
    "engineer_features",
    "select_features",
    "resample_dataset",
    "train_model",
    "get_predictions",
    "evaluate_model",
    "explore_dataset",
    "profile_dataset",
)


class Planner(Protocol):
    """Fills the phase schemas; `label` is what reports show ("no LLM" for the rules)."""

    label: str

    def design(
        self, ctx: TaskContext, history: list[ExperimentRecord], size: int, iteration: int
    ) -> Design: ...

    def code(
        self, plan: ExperimentPlan, ctx: TaskContext, failed: list[tuple[str, str]]
    ) -> OrchestrationCode: ...

    def review(
        self, ctx: TaskContext, history: list[ExperimentRecord], iteration: int, last: int
    ) -> Review: ...

    def note_exploration(self, result: dict[str, object]) -> None:
        """An exploration the review asked for (aggregates), for the next design."""


class RulesPlanner:
    """`--model rules`: deterministic, offline, no LLM."""

    label = "rules (no LLM)"

    def design(
        self, ctx: TaskContext, history: list[ExperimentRecord], size: int, iteration: int
    ) -> Design:
        return rules_design(ctx, history, size)

    def code(
        self, plan: ExperimentPlan, ctx: TaskContext, failed: list[tuple[str, str]]
    ) -> OrchestrationCode:
        return rules_code(plan, ctx)

    def review(
        self, ctx: TaskContext, history: list[ExperimentRecord], iteration: int, last: int
    ) -> Review:
        return rules_review(ctx, history, iteration, last)

    def note_exploration(self, result: dict[str, object]) -> None:
        """The rules do not explore."""


SYSTEM = """You are MLE-Bot, an autonomous machine-learning engineer.
You never see the data: only an aggregate profile of the training table, the problem
statement and the metrics of the experiments you ran. Trusted tools do all the work inside
a sandbox; tables and models move between them as file paths."""

CODE_RULES = """Write orchestration code for one experiment. It runs in a restricted Python
interpreter: no imports, no files, no network, no dunder attributes, a few seconds of
interpreter time, at most {max_calls} tool calls. Available:
- `ctx`: a dict with the task (target, id_column, task, metric, time_column, group_column,
  numeric_columns, categorical_columns, roll_columns) and the table paths `train`, `valid`
  (a time- or group-aware validation part) and `test` (the competition's test table).
  When `ctx["case_history"]` is set, each test row is a prediction case whose past is in
  that file: pass `"case_history": ctx["case_history"]` to engineer_features so the test
  cases get their windows from their own history.
- `plan`: the experiment (name, algorithm, params, feature_strategy).
- `call_tool(name, args) -> dict`: run one trusted tool; a tool error raises an exception.
  Tools: {tools}.
Apply the same features to train, valid and test (engineer_features with `apply_to`).
Finish by assigning `result = {{"model": <model path from train_model>, "valid": <valid
table path with the model's features>, "test": <test table path with the same features>}}`.
The bot evaluates the model on `valid` itself; do not evaluate or write submissions.
Tool definitions (JSON schemas of the arguments):
{definitions}"""


class LLMPlanner:
    """Phases 2-4 through an `LLMClient` (structured output into the phase schemas)."""

    def __init__(
        self,
        client: LLMClient,
        *,
        problem: str,
        profile: dict[str, Any],
        max_tool_calls: int,
    ) -> None:
        self.client, self.problem, self.profile = client, problem, profile
        self.max_tool_calls = max_tool_calls
        self.label = f"LLM {client.model.provider}/{client.model.name}"
        self.explorations: list[dict[str, object]] = []

    def note_exploration(self, result: dict[str, object]) -> None:
        self.explorations.append(result)

    def _ask(self, prompt: str, schema: type[Any], purpose: str) -> Any:
        messages = [Message(role="system", content=SYSTEM), Message(role="user", content=prompt)]
        value, _ = self.client.structured(messages, schema, purpose=purpose)  # charged by the meter
        return value

    def _task(self, ctx: TaskContext) -> str:
        return (
            f"Problem statement:\n{self.problem}\n\nTask: {ctx.task}; target `{ctx.target}`; "
            f"metric {ctx.metric} ({'higher' if ctx.higher_is_better else 'lower'} is better); "
            f"time column {ctx.time_column}; group column {ctx.group_column}.\n\n"
            f"Profile of the training table (aggregates only):\n"
            f"{json.dumps(self.profile, sort_keys=True)}\n"
        )

    def design(
        self, ctx: TaskContext, history: list[ExperimentRecord], size: int, iteration: int
    ) -> Design:
        explored = ""
        if self.explorations:
            explored = (
                "\nExplorations you asked for (aggregates):\n"
                + json.dumps(self.explorations, sort_keys=True)
                + "\n"
            )
        prompt = (
            self._task(ctx)
            + _history(history)
            + explored
            + f"\nIteration {iteration}. Design {size} experiment(s) (at most {size}): "
            "algorithm, hyperparameters, feature strategy and rationale for each."
        )
        design: Design = self._ask(prompt, Design, f"design-{iteration}")
        return Design(strategy=design.strategy, experiments=design.experiments[:size])

    def code(
        self, plan: ExperimentPlan, ctx: TaskContext, failed: list[tuple[str, str]]
    ) -> OrchestrationCode:
        from mledojo.tools.registry import tool_definitions

        defs = [d for d in tool_definitions() if d["name"] in EXPERIMENT_TOOLS]
        prompt = (
            CODE_RULES.format(
                max_calls=self.max_tool_calls,
                tools=", ".join(EXPERIMENT_TOOLS),
                definitions=json.dumps(defs, sort_keys=True),
            )
            + "\n\nctx = "
            + ctx.model_dump_json()
            + "\nplan = "
            + plan.model_dump_json()
        )
        for n, (code, error) in enumerate(failed, 1):
            prompt += f"\n\nAttempt {n} failed.\nCode:\n{code}\nError:\n{error}\nFix it."
        purpose = f"code-{plan.name}-{len(failed) + 1}"
        answer: OrchestrationCode = self._ask(prompt, OrchestrationCode, purpose)
        return answer

    def review(
        self, ctx: TaskContext, history: list[ExperimentRecord], iteration: int, last: int
    ) -> Review:
        if iteration >= last:
            return Review(decision="stop", reason=f"{last} iterations done")
        prompt = (
            self._task(ctx)
            + _history(history)
            + f"\nIteration {iteration} of at most {last} is done. Review the metrics: "
            "continue with another batch, or stop (target reached, plateau)? You may name up "
            "to 5 columns in `explore` to see the target rate/mean by their values first."
        )
        review: Review = self._ask(prompt, Review, f"review-{iteration}")
        return review


def _history(history: list[ExperimentRecord]) -> str:
    if not history:
        return ""
    rows = [
        {
            "iteration": r.iteration,
            "name": r.plan.name,
            "algorithm": r.plan.algorithm,
            "params": {p.name: p.value for p in r.plan.params},
            "features": r.plan.feature_strategy,
            "status": r.status,
            "score": r.score,
            "error": (r.attempts[-1].error if r.attempts and r.status == "failed" else None),
        }
        for r in history
    ]
    return "\nFinished experiments:\n" + json.dumps(rows, sort_keys=True) + "\n"
