"""AIDE (aideml 0.2.2, installed in its own venv) through real Docker episodes, its model the
scripted AIDE conversation behind the gateway: a graded submission offline; a hostile model
(a script attacking the host, a huge reply, a malformed review, a spent budget) ends as the
agent's own result, never the host's; the host's key never reaches the run (canary)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.agent import Agent, load_agent
from mledojo.testing.llm_server import ScriptedLLMServer
from mledojo.testing.replies import RecordedRequest, Reply
from mledojo.testing.scripted_aide import (
    DRAFT_SCRIPT,
    REVIEW_TOOL,
    ScriptedAide,
)

pytestmark = [pytest.mark.thirdparty, pytest.mark.docker, pytest.mark.slow]

COMPETITION = "spaceship-titanic"
CANARY = "sk-canary-" + secrets.token_hex(16)
Script = Callable[[RecordedRequest], Reply]


@pytest.fixture
def runs() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for env in made:
        env.close()


@pytest.fixture(autouse=True)
def host_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider key in the host's environment: it must never reach the driver or the run."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)


def run_aide(
    runs: list[Any], tmp_path: Path, script: Script | None = None, **kw: Any
) -> tuple[Any, Any]:
    base = load_agent("aide")
    agent_args = kw.pop("agent_args", {})

    class Scripted(base):  # type: ignore[misc, valid-type]
        def scripted_model(self) -> Script:
            return script if script is not None else super().scripted_model()

    env = mledojo.make(
        COMPETITION, sandbox="docker", runs_dir=tmp_path / "runs", agent="aide", **kw
    )
    runs.append(env)
    agent: Agent = Scripted(**agent_args)
    outcome = agent.run(env, seed=0)
    return env, outcome


def journal(env: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (env.run_folder / "aide" / "work" / "aide-journal.json").read_text()
    )
    return data


def assert_no_canary(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            assert CANARY.encode() not in path.read_bytes(), path


def test_the_offline_path_searches_and_gets_a_graded_submission(
    runs: list[Any], tmp_path: Path
) -> None:
    env, outcome = run_aide(runs, tmp_path)
    result = env.result()
    assert result is not None and result.status == "completed", result
    assert result.end_reason == "submitted"
    assert result.final.graded and result.final.private_score is not None
    tree = journal(env)
    assert tree["stages"] == {"draft": 1, "improve": 2} and tree["buggy"] == 0
    assert tree["best_metric"] == pytest.approx(result.best_public_score, abs=0.05)
    # every model call went through the gateway, metered into the env, by its real name
    assert outcome.llm is not None and outcome.llm.calls == 6
    assert result.llm.calls == 6
    lines = (env.run_folder / "gateway-exchanges.jsonl").read_text().splitlines()
    models = [json.loads(line)["model"] for line in lines]
    assert models == ["scripted-code", "scripted-feedback"] * 3
    assert "3 nodes (1 draft, 2 improve)" in outcome.notes and "[scripted, no key]" in outcome.notes
    # the setup step, three scripts (each graded on the public part), the submission
    assert result.steps == 5 and len(result.feedback) == 3
    assert_no_canary(env.run_folder)


ATTACK = """\
import os, pathlib
print("environment:", sorted(os.environ))
print("key:", os.environ.get("OPENAI_API_KEY"), os.environ.get("OPENAI_BASE_URL"))
pathlib.Path({host_file!r}).write_text("pwned")
"""


def test_a_script_attacking_the_host_runs_in_the_sandbox_and_is_debugged(
    runs: list[Any], tmp_path: Path
) -> None:
    host_file = tmp_path / f"pwned-{secrets.token_hex(4)}"
    script = ScriptedAide([ATTACK.format(host_file=str(host_file)), DRAFT_SCRIPT])
    agent_args = {"steps": 2, "debug_prob": 1.0}
    env, _ = run_aide(runs, tmp_path, script, agent_args=agent_args)
    assert not host_file.exists()  # the script ran in the container, not on the host
    result = env.result()
    assert result is not None and result.status == "completed", result
    assert result.final.graded
    tree = journal(env)
    assert [n["stage"] for n in tree["tree"]] == ["draft", "debug"]
    assert [n["buggy"] for n in tree["tree"]] == [True, False]
    code = (env.run_folder / "trajectory.jsonl").read_text()
    assert "key: None None" in code  # the container sees neither the key nor the gateway
    assert_no_canary(env.run_folder)


def test_a_huge_reply_is_refused_by_the_driver_and_the_search_goes_on(
    runs: list[Any], tmp_path: Path
) -> None:
    huge = "x = 1\n#" + "x" * 1_200_000 + "\n"  # past the bridge's request-line bound
    script = ScriptedAide([huge, DRAFT_SCRIPT])
    env, _ = run_aide(runs, tmp_path, script, agent_args={"steps": 2, "debug_prob": 1.0})
    result = env.result()
    assert result is not None and result.status == "completed", result
    assert result.final.graded
    tree = journal(env)
    assert [n["buggy"] for n in tree["tree"]] == [True, False]
    # the huge script never became a step: setup, the fixed script, the submission
    assert result.steps == 3


class MalformedReview(ScriptedAide):
    """Answers AIDE's review call without the fields its schema requires."""

    def __call__(self, request: RecordedRequest) -> Reply:
        reply = super().__call__(request)
        if reply.kind == "tool_call":
            return Reply.tool_call(REVIEW_TOOL, {"summary": "no verdict"})
        return reply


def test_a_malformed_review_ends_as_the_agents_error_with_its_best_submission(
    runs: list[Any], tmp_path: Path
) -> None:
    env, outcome = run_aide(runs, tmp_path, MalformedReview())
    result = env.result()
    assert result is not None and result.status == "agent_error", result
    assert "KeyError" in (result.error or "")  # the driver's log tail: aideml's own crash
    assert result.final.graded  # the script that ran before the review was graded
    assert "driver: crash" in outcome.notes


def test_a_spent_model_budget_stops_aidemls_endless_retries_and_grades(
    runs: list[Any], tmp_path: Path
) -> None:
    """Past the budget the gateway answers 429 `insufficient_quota`, which aideml would retry
    forever; the driver stops the search there, and the episode is graded, not failed."""
    env, outcome = run_aide(
        runs,
        tmp_path,
        budget={"llm_tokens": 36},  # 18 tokens a scripted call: the draft and its review
        agent_args={"idle_timeout_s": 120.0},
    )
    result = env.result()
    assert result is not None and result.status in ("completed", "truncated"), result
    assert result.final.graded
    assert "stopped: the model budget is used up" in outcome.notes
    assert result.llm.calls == 2  # the third (the improvement) was refused, not retried
    assert journal(env)["nodes"] == 1


def test_an_openai_model_goes_through_the_gateway_under_an_alias(
    runs: list[Any], tmp_path: Path
) -> None:
    """aideml would send `gpt-4.1-mini` to OpenAI's own endpoint (hard-coded), past the
    gateway; under its alias it reaches the upstream (here the scripted server standing in
    for the provider) by the gateway, with the host's key added only there, and is priced."""
    with ScriptedLLMServer(ScriptedAide()) as provider:
        env, outcome = run_aide(
            runs,
            tmp_path,
            budget={"llm_usd": 1.0},  # an unpriced (unmapped) name would be refused
            agent_args={
                "model": "openai/gpt-4.1-mini",
                "model_base_url": provider.openai_base_url,
                "steps": 2,
                "num_drafts": 1,
            },
        )
        requests = list(provider.requests)
    result = env.result()
    assert result is not None and result.status == "completed", result
    assert result.final.graded
    assert [r.body["model"] for r in requests] == ["gpt-4.1-mini"] * 4
    assert {r.headers["authorization"] for r in requests} == {f"Bearer {CANARY}"}
    assert outcome.llm is not None and outcome.llm.usd > 0
    assert "[scripted, no key]" not in outcome.notes
    assert_no_canary(env.run_folder)
