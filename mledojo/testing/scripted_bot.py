"""A scripted ML engineer for the scripted LLM server (tests, benchmarks, demos).

It answers the bot's three kinds of request the way a competent model would: a fixed
design, template orchestration code for the plan named in the prompt (optionally bad code
first, to exercise refusals and retries), and scripted review decisions. It reads only the
prompt the bot sent, so everything it needs must be in that prompt.
"""

from __future__ import annotations

import re
from typing import Any

from mledojo.bot.context import TaskContext
from mledojo.bot.rules import rules_code
from mledojo.bot.schemas import ExperimentPlan
from mledojo.testing.replies import Reply

DESIGN = {
    "strategy": "Two model families on encoded features, the stronger refined later.",
    "experiments": [
        {
            "name": "lgbm_enc",
            "algorithm": "lightgbm",
            "params": [
                {"name": "n_estimators", "value": 200},
                {"name": "learning_rate", "value": 0.05},
            ],
            "feature_strategy": "encoded",
            "rationale": "boosting on encoded categoricals",
        },
        {
            "name": "logreg_enc",
            "algorithm": "logistic_regression",
            "params": [{"name": "C", "value": 1.0}],
            "feature_strategy": "encoded",
            "rationale": "a linear baseline",
        },
    ],
}


def prompt_text(request: Any) -> str:
    """Every string of the request's messages (any of the three wire formats)."""
    body = request.body or {}
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                if k in ("content", "text", "input", "messages", "system"):
                    walk(v)
                elif isinstance(v, list | dict):
                    walk(v)

    walk({k: body.get(k) for k in ("input", "messages", "system", "instructions")})
    return "\n".join(found)


class ScriptedEngineer:
    """A scripted LLM: designs `design`, writes template code, stops at the first review.

    `bad_code` are code answers given (in order) before the good ones, per experiment name,
    to exercise refusals and retries. `reviews` are the review decisions in order.
    """

    def __init__(
        self,
        design: dict[str, Any] | None = None,
        *,
        bad_code: dict[str, list[str]] | None = None,
        reviews: tuple[str, ...] = ("stop",),
        latency_s: float = 0.0,
        explore: list[str] | None = None,
    ) -> None:
        self.explore = list(explore or [])
        self.latency_s = latency_s
        self.design = design or DESIGN
        self.bad_code = {k: list(v) for k, v in (bad_code or {}).items()}
        self.reviews = list(reviews)
        self.kinds: list[str] = []

    def __call__(self, request: Any) -> Reply:
        reply = self._answer(request)
        return reply.slow(self.latency_s) if self.latency_s else reply

    def _answer(self, request: Any) -> Reply:
        text = prompt_text(request)
        if "Write orchestration code" in text:
            self.kinds.append("code")
            ctx = TaskContext.model_validate_json(_grab(r"\nctx = (\{[^\n]*\})\n", text))
            plan = ExperimentPlan.model_validate_json(_grab(r"\nplan = (\{[^\n]*\})", text))
            queue = self.bad_code.get(plan.name) or []
            if queue:
                return Reply.structured({"code": queue.pop(0), "explanation": "first try"})
            return Reply.structured(
                {"code": rules_code(plan, ctx).code, "explanation": "template code"}
            )
        if "Review the metrics" in text:
            self.kinds.append("review")
            decision = self.reviews.pop(0) if self.reviews else "stop"
            answer: dict[str, Any] = {"decision": decision, "reason": "scripted review"}
            if self.explore:
                answer["explore"], self.explore = self.explore, []
            return Reply.structured(answer)
        if "Design " in text:
            self.kinds.append("design")
            return Reply.structured(self.design)
        self.kinds.append("unknown")
        return Reply.error(400, "the scripted engineer did not understand the request")


def _grab(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    if m is None:
        raise ValueError(f"no match for {pattern!r} in the prompt")
    return m.group(1)
