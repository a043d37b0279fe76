"""mini-swe-agent, installed for real (its pinned venv from the index) and driven unchanged:
the offline path gets a graded submission in a Docker episode; a model command that attacks
the host runs in the container only; the provider key (a canary) never reaches the driver,
the container or the run folder; hostile model replies end as the agent's failure."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.agent import make_agent
from mledojo.testing.llm_server import Reply, ScriptedLLMServer
from mledojo.testing.memory_sandbox import MemorySandboxDouble
from mledojo.testing.scripted_mini import PLAN, SUBMIT, ScriptedMini

pytestmark = [pytest.mark.thirdparty, pytest.mark.slow]
COMPETITION = "spaceship-titanic"
COPY_SAMPLE = 'cp "$MLEDOJO_DATA/sample_submission.csv" submission.csv'


@pytest.fixture
def runs() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for env in made:
        env.close()


def every_file(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            yield p, p.read_bytes()


@pytest.mark.docker
def test_the_offline_path_gets_a_graded_submission(
    runs: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_COMPATIBLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = mledojo.make(COMPETITION, sandbox="docker", run_dir=tmp_path / "run")
    runs.append(env)
    outcome = make_agent("mini-swe-agent", {}).run(env, seed=0)
    result = env.result()
    assert result is not None and result.status == "completed", result
    assert result.final.graded and result.final.private_score is not None, result.final
    assert outcome.llm is not None and outcome.llm.calls == len(PLAN)
    assert result.llm.calls == len(PLAN)
    assert outcome.steps == len(PLAN) + 1  # four commands, then the submission
    assert "mini-swe-agent ended: Submitted" in outcome.notes
    folder = tmp_path / "run" / "mini-swe-agent"
    trajectory = (folder / "work" / "trajectory.json").read_text()
    assert '"exit_status": "Submitted"' in trajectory
    assert "baseline submission written" in trajectory  # train.py ran in the container
    assert (tmp_path / "run" / "gateway-exchanges.jsonl").read_text().count("\n") == len(PLAN)


@pytest.mark.docker
def test_a_command_attacking_the_host_runs_in_the_container_and_the_key_stays_out(
    runs: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "sk-canary-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    marker = Path("/tmp") / f"mledojo-host-marker-{secrets.token_hex(8)}"
    attack = (
        f"touch {marker}; echo key=$OPENAI_API_KEY; env; "
        "cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'; ls -la ~ /work 2>&1 | head"
    )
    env = mledojo.make(COMPETITION, sandbox="docker", run_dir=tmp_path / "run")
    runs.append(env)
    with ScriptedLLMServer(ScriptedMini([attack, COPY_SAMPLE, SUBMIT])) as server:
        agent = make_agent(
            "mini-swe-agent",
            {"model": "openai/gpt-5-mini", "model_base_url": server.openai_base_url},
        )
        outcome = agent.run(env, seed=0)
    result = env.result()
    assert result is not None and result.status == "completed", result
    assert result.final.graded
    assert not marker.exists()  # the command ran in the container, not here
    assert server.requests and all(
        r.headers["authorization"] == f"Bearer {canary}" for r in server.requests
    )  # the upstream got the real key ...
    bridge_log = (tmp_path / "run" / "mini-swe-agent" / "bridge.jsonl").read_text()
    assert "key=\\n" in bridge_log or "key=\\r\\n" in bridge_log  # ... the container none
    for path, data in every_file(tmp_path / "run"):
        assert canary.encode() not in data, path
    assert outcome.llm is not None and outcome.llm.usd > 0  # priced as gpt-5-mini


@pytest.mark.parametrize(
    "reply",
    [
        Reply.raw(b"{not json" + b"\xff" * 1000),
        Reply.say("x" * (17 << 20)),  # past the gateway's 16 MiB reply bound
        Reply.tool_call("python", {"code": "import os; os.system('reboot')"}),  # no such tool
    ],
    ids=["garbled", "huge", "unknown-tool"],
)
def test_hostile_replies_end_as_the_agents_failure(
    reply: Reply, runs: list[Any], tmp_path: Path
) -> None:
    env = mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "run")
    runs.append(env)
    with ScriptedLLMServer(lambda _: reply) as server:
        agent = make_agent(
            "mini-swe-agent",
            {"model": "openai-compatible/hostile", "model_base_url": server.openai_base_url},
        )
        outcome = agent.run(env, seed=0)
    result = env.result()
    assert result is not None and result.status == "agent_error", result
    assert outcome.steps == 0  # no command ran
    assert "driver" in outcome.notes
