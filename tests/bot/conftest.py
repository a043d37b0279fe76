"""Fixtures of the MLE-Bot tests: a scripted ML engineer behind the scripted LLM server."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.testing.llm_server import ScriptedLLMServer
from mledojo.testing.memory_sandbox import MemorySandboxDouble
from mledojo.testing.pytest_plugin import llm_server  # noqa: F401 - the fixture
from mledojo.testing.scripted_bot import DESIGN, ScriptedEngineer, prompt_text

OPENAI_SENTINEL = "sk-test-SENTINEL-bot-openai-71c2"
ANTHROPIC_SENTINEL = "sk-ant-test-SENTINEL-bot-anthropic-93ad"


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
    """`make_env(competition, sandbox=..., **kw)`: an env whose runs go under tmp_path, on the
    in-process test double unless a test names a real sandbox (the bot is what is tested)."""
    made: list[Any] = []

    def make(competition: str = "titanic", **kw: Any) -> Any:
        kw.setdefault("sandbox", MemorySandboxDouble())
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


__all__ = ["DESIGN", "ScriptedEngineer", "prompt_text"]
