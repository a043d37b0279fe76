"""Fixtures of the MLE-Bot tests: a scripted ML engineer behind the scripted LLM server."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.bot.context import TaskContext
from mledojo.bot.rules import rules_code
from mledojo.bot.schemas import ExperimentPlan
from mledojo.testing.llm_server import Reply, ScriptedLLMServer
from mledojo.testing.pytest_plugin import llm_server  # noqa: F401 - the fixture

OPENAI_SENTINEL = "sk-test-SENTINEL-bot-openai-71c2"
ANTHROPIC_SENTINEL = "sk-ant-test-SENTINEL-bot-anthropic-93ad"

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
    ) -> None:
        self.design = design or DESIGN
        self.bad_code = {k: list(v) for k, v in (bad_code or {}).items()}
        self.reviews = list(reviews)
        self.kinds: list[str] = []

    def __call__(self, request: Any) -> Reply:
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
            return Reply.structured({"decision": decision, "reason": "scripted review"})
        if "Design " in text:
            self.kinds.append("design")
            return Reply.structured(self.design)
        self.kinds.append("unknown")
        return Reply.error(400, "the scripted engineer did not understand the request")


def _grab(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    if m is None:
        raise AssertionError(f"no match for {pattern!r} in the prompt")
    return m.group(1)


@pytest.fixture(autouse=True)
def sentinel_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Provider keys hold sentinels that must never reach the run folder or the sandbox."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SENTINEL)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_SENTINEL)
    monkeypatch.delenv("MLEDOJO_LLM_PRICES", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _grader_imports() -> None:
    """Import what grading needs in this process before a grading worker forks.

    This branch's worker drops privileges before grading's lazy imports, and the Python
    install here is unreadable to `nobody`; main fixed it with a warm-up grade (2145a3f).
    """
    for competition in ("titanic", "pump-failure", "bike-sharing-demand"):  # three metrics
        env = mledojo.make(competition, sandbox="local")
        with contextlib.suppress(Exception):
            env.scorer.score(env.data.public_dir / "sample_submission.csv", part="public")


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`make_env(competition, sandbox=..., **kw)`: an env whose runs go under tmp_path."""
    made: list[Any] = []

    def make(competition: str = "titanic", **kw: Any) -> Any:
        kw.setdefault("sandbox", "local")
        kw.setdefault("runs_dir", tmp_path / "runs")
        kw.setdefault("agent", "mle-bot")
        env = mledojo.make(competition, **kw)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


def files_text(folder: Path) -> Iterator[tuple[Path, bytes]]:
    """Every regular file under `folder` with its bytes."""
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            yield p, p.read_bytes()


def server_for(model: str, server: ScriptedLLMServer) -> str:
    return server.base_url if model.startswith("anthropic/") else server.openai_base_url


def llm_lines(folder: Path) -> list[dict[str, Any]]:
    path = folder / "llm-calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
