"""ReAct episodes through the real `openai` / `anthropic` SDKs and the scripted LLM server:
the offline path gets a graded submission in Docker; a hostile research model ends as the
agent's failure or is refused, never harms the host; the provider key never reaches the
container or the run folder (canary)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.agent import make_agent
from mledojo.react.format import MAX_REPLY_CHARS
from mledojo.react.usage import load_usage, usage_table
from mledojo.testing.llm_server import Reply, ScriptedLLMServer
from mledojo.testing.memory_sandbox import MemorySandboxDouble
from mledojo.testing.scripted_react import ScriptedResearcher, react_reply

COMPETITION = "titanic"
RESEARCH = "anthropic/claude-sonnet-4-5"
ASSISTANT = "anthropic/claude-haiku-4-5"


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for env in made:
        env.close()


def make_env(runs: list[Any], tmp_path: Path, **kw: Any) -> Any:
    env = mledojo.make(COMPETITION, runs_dir=tmp_path / "runs", agent="react", **kw)
    runs.append(env)
    return env


def every_file(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            yield p, p.read_bytes()


def trajectory(env: Any) -> list[dict[str, Any]]:
    text = (env.run_folder / "react" / "trajectory.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.docker
@pytest.mark.slow
def test_the_offline_path_gets_a_graded_submission(
    runs: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_COMPATIBLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = make_env(runs, tmp_path, sandbox="docker")
    outcome = make_agent("react", {}).run(env, seed=0)
    result = env.result()
    assert result is not None and result.status == "completed", result
    assert result.final.graded and result.final.private_score is not None
    assert outcome.llm is not None and outcome.llm.calls == 8
    steps = trajectory(env)
    assert [s["step"]["action"] for s in steps] == [
        "List Files",
        "Understand File",
        "Edit Script (AI)",
        "Inspect Script Lines",
        "Execute Script",
        "Final Answer",
    ]
    assert "sample_submission.csv" in steps[0]["observation"]
    assert "+sample.to_csv" in steps[2]["observation"]  # the diff of the new script
    assert "[exit status: 0 ]" in steps[4]["observation"]
    assert "graded on the public part" in steps[4]["observation"]
    usage = load_usage(env.run_folder / "react" / "usage.json")
    assert [(r.role, r.requests) for r in usage.roles] == [("research", 6), ("assistant", 2)]
    assert usage.total.calls == 8
    table = usage_table([usage])
    assert "| titanic | research | openai-compatible/scripted-researcher | 6 |" in table


HOSTILE_SCRIPT = """\
import json, os
os.symlink("/etc", "escape")
os.makedirs({host!r}, exist_ok=True)
open(os.path.join({host!r}, "pwned"), "w").write("x")
print("y" * 5_000_000)
print("ENV-DUMP", json.dumps(dict(os.environ)))
"""


@pytest.mark.docker
@pytest.mark.slow
def test_a_hostile_model_is_refused_and_the_key_never_leaves_the_host(
    runs: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"sk-canary-{secrets.token_hex(16)}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", canary)
    host_dir = tmp_path / "host-side"
    plan = [
        "rm -rf / --no-preserve-root",  # no format at all
        react_reply("List Files", {"dir_path": "/etc"}),
        react_reply(
            "Edit Script (AI)",
            {"script_name": "a.py", "edit_instruction": "x", "save_name": "../../../tmp/x.py"},
        ),
        react_reply(
            "Edit Script (AI)",
            {"script_name": "train.py", "edit_instruction": "attack", "save_name": "train.py"},
        ),
        react_reply("Execute Script", {"script_name": "train.py"}),
        react_reply(
            "Inspect Script Lines",
            {"script_name": "escape/hostname", "start_line_number": 1, "end_line_number": 5},
        ),
        "Reflection: " + "x" * MAX_REPLY_CHARS,  # huge
        react_reply("Final Answer", {"final_answer": "done"}),
    ]
    script = ScriptedResearcher(
        plan,
        script=HOSTILE_SCRIPT.format(host=str(host_dir)),
        assistant_model="claude-haiku-4-5",
    )
    env = make_env(runs, tmp_path, sandbox="docker")
    with ScriptedLLMServer(script) as server:
        agent = make_agent(
            "react",
            {"model": RESEARCH, "assistant_model": ASSISTANT, "model_base_url": server.base_url},
        )
        outcome = agent.run(env, seed=0)
        requests = list(server.requests)
    result = env.result()
    assert result is not None and result.status == "completed", result  # reached Final Answer
    assert outcome.llm is not None and outcome.llm.usd > 0  # priced: the table has dollars
    assert not host_dir.exists()  # the script ran in the container, not on the host
    steps = trajectory(env)
    assert "Format error" in json.dumps(requests[1].body)  # the parse error was fed back
    assert steps[0]["format_error"].startswith("The reply must have the parts")
    by_action = [s for s in steps if "observation" in s]
    assert by_action[0]["observation"].startswith("Refused: '/etc' is outside")
    assert by_action[1]["observation"].startswith("Refused: '../../../tmp/x.py' leaves")
    assert "ENV-DUMP" in by_action[3]["observation"]  # the container's environment, printed
    assert "characters cut" in by_action[3]["observation"]  # 5 MB of output, bounded
    assert len(by_action[3]["observation"]) < 8_200
    assert "resolves outside the workspace" in by_action[4]["observation"]
    assert "at most" in steps[6]["format_error"]
    # The key was used (the server saw it) but reached no file of the run, nor the container.
    sent = [
        r.headers.get("x-api-key") or r.headers.get("authorization", "").removeprefix("Bearer ")
        for r in requests
    ]
    assert sent == [canary] * len(requests)
    leaked = [str(p) for p, data in every_file(env.run_folder) if canary.encode() in data]
    assert leaked == []
    assert canary not in by_action[3]["observation"]


def test_replies_that_keep_breaking_the_format_end_as_the_agents_failure(
    runs: list[Any], tmp_path: Path
) -> None:
    env = make_env(runs, tmp_path, sandbox=MemorySandboxDouble())
    with ScriptedLLMServer(ScriptedResearcher(["I will just train a model."])) as server:
        agent = make_agent(
            "react",
            {
                "model": "openai-compatible/scripted-researcher",
                "model_base_url": server.openai_base_url,
                "max_format_retries": 2,
            },
        )
        outcome = agent.run(env, seed=0)
        asked = len(server.requests)
    result = env.result()
    assert result is not None and result.status == "agent_error"
    assert "3 replies in a row broke the format" in (result.error or "")
    assert asked == 3 and outcome.steps == 0
    assert (env.run_folder / "react" / "usage.json").is_file()


def test_a_garbled_model_reply_ends_as_the_agents_failure(runs: list[Any], tmp_path: Path) -> None:
    env = make_env(runs, tmp_path, sandbox=MemorySandboxDouble())
    with ScriptedLLMServer(lambda _: Reply.raw(b"{not json" + b"\xff" * 100_000)) as server:
        agent = make_agent(
            "react",
            {
                "model": "openai-compatible/scripted-researcher",
                "model_base_url": server.openai_base_url,
                "max_retries": 0,
            },
        )
        agent.run(env, seed=0)
    result = env.result()
    assert result is not None and result.status == "agent_error"
    assert "LLM" in (result.error or "")
