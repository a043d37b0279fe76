"""The episode core's seams: failure classification, budgets, spaces, run layout, data seeds.

Each test drives a real env through the public API. Where the sandbox itself is not what is
tested, it is the in-process test double (`mledojo.testing.memory_sandbox`); a restart of a
runner the agent killed and the disk quota need the real LocalSandbox (root). Faults the
machine cannot produce on demand (a sandbox engine that stops answering) are injected, so
everything around them runs for real.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gymnasium
import pytest

import mledojo
from mledojo.artifacts import EpisodeResult, LLMUsage
from mledojo.errors import SandboxError
from mledojo.sandbox import quota
from mledojo.sandbox.local import LocalSandbox
from mledojo.testing.memory_sandbox import MemorySandboxDouble

WRITE_SIGNAL = (
    "import pandas as pd, os\n"
    "t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')\n"
    "h = t['hours_since_maintenance'].fillna(0)\n"
    "pd.DataFrame({'id': t['id'], 'failure_24h': h / h.max()})"
    ".to_csv('submission.csv', index=False)\n"
)


class FlakySandbox(MemorySandboxDouble):
    """The test double, whose engine stops answering exec after `good` calls."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def exec(self, code: str, *, timeout_s: float) -> Any:
        if self.good <= 0:
            raise SandboxError("the sandbox engine stopped answering")
        self.good -= 1
        return super().exec(code, timeout_s=timeout_s)


def result_of(env: mledojo.MLEDojoEnv) -> EpisodeResult:
    return EpisodeResult.load(env.run_folder / "result.json")


def test_sandbox_faults_are_counted_and_truncate_the_episode(tmp_path: Path) -> None:
    box = FlakySandbox(good=1)
    budget = {"max_sandbox_errors": 2}
    with mledojo.make("pump-failure", sandbox=box, run_dir=tmp_path / "r", budget=budget) as env:
        env.reset(seed=0)
        obs, *_ = env.step({"action": "execute_code", "code": WRITE_SIGNAL})
        assert obs["submission"] == "valid"
        obs, _, _, truncated, _ = env.step({"action": "execute_code", "code": "print(1)"})
        assert obs["status"] == "sandbox_error" and not truncated
        assert "stopped answering" in obs["error_message"]
        obs, _, terminated, truncated, info = env.step({"action": "execute_code", "code": "1"})
        assert truncated and not terminated and obs["error_type"] == "SandboxError"
        result = result_of(env)
    assert result.status == "infra_error" and result.sandbox.errors == 2
    assert result.final.graded, "the best submission is still graded"
    assert info["final"]["graded"]


def test_a_runner_the_agent_killed_is_a_restart_not_an_infra_error(tmp_path: Path) -> None:
    with mledojo.make("pump-failure", sandbox="local", run_dir=tmp_path / "r") as env:
        env.reset(seed=0)
        obs, *_ = env.step(
            {"action": "execute_code", "code": "import os, signal; os.kill(os.getppid(), 9)"}
        )
        assert obs["status"] == "sandbox_error" and obs["error_type"] == "SandboxRestarted"
        obs, *_ = env.step({"action": "execute_code", "code": "print('alive')"})
        assert obs["stdout"].strip() == "alive"
        env.step({"action": "submit"})
        result = result_of(env)
    assert result.sandbox.restarts == 1 and result.sandbox.errors == 0
    assert result.status == "completed"
    expected = "filesystem" if quota.unavailable_reason() is None else "walk"
    assert result.sandbox.disk_quota == expected  # recorded in result.json


def test_a_host_bug_inside_a_step_still_writes_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as env:
        env.reset(seed=0)
        assert env.episode is not None

        def bug(action: Any, draft: Any) -> None:
            raise KeyError("a bug of ours")

        monkeypatch.setitem(env.episode._handlers, mledojo.RequestInfo, bug)
        with pytest.raises(KeyError):
            env.step({"action": "request_info"})
        result = result_of(env)
    assert result.status == "infra_error" and "a bug of ours" in (result.error or "")


@pytest.mark.slow
def test_time_budget_ends_as_timeout_and_grades_the_best(tmp_path: Path) -> None:
    budget = {"episode_time_s": 15.0}
    with mledojo.make("pump-failure", sandbox="local", run_dir=tmp_path / "r", budget=budget) as e:
        e.reset(seed=0)
        e.step({"action": "execute_code", "code": WRITE_SIGNAL})
        time.sleep(max(0.0, e.episode.time_left_s) if e.episode else 0)  # the agent "thinks"
        obs, _, terminated, truncated, info = e.step({"action": "request_info"})
        assert truncated and not terminated and obs["status"] == "truncated"
        result = result_of(e)
    assert result.status == "timeout" and result.final.graded


def test_llm_budget_truncates_cleanly(tmp_path: Path) -> None:
    budget = {"llm_usd": 0.05}
    with mledojo.make(
        "pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r", budget=budget
    ) as e:
        e.reset(seed=0)
        e.step({"action": "execute_code", "code": WRITE_SIGNAL})
        e.charge_llm(LLMUsage(calls=1, input_tokens=900, output_tokens=100, usd=0.03))
        _, _, _, truncated, _ = e.step({"action": "request_info"})
        assert not truncated
        e.charge_llm(LLMUsage(calls=1, input_tokens=900, output_tokens=100, usd=0.03))
        obs, _, _, truncated, info = e.step({"action": "request_info"})
        assert truncated and "LLM dollar budget" in obs["info"]
        result = result_of(e)
    assert result.llm.calls == 2 and result.llm.usd == pytest.approx(0.06)
    assert result.llm.tokens == 2000 and result.final.graded
    lines = [json.loads(x) for x in (tmp_path / "r" / "trajectory.jsonl").read_text().splitlines()]
    per_step = [line["llm"]["usd"] for line in lines if "llm" in line]
    assert per_step == [pytest.approx(0.03), pytest.approx(0.03)]


@pytest.mark.slow
def test_data_seed_per_reset_and_options_checked(tmp_path: Path) -> None:
    with mledojo.make("pump-failure", sandbox="local", runs_dir=tmp_path) as e:
        e.reset(seed=0)
        first = e.run_folder
        _, info = e.reset(seed=0, options={"data_seed": 1})
        second = e.run_folder
        e.step({"action": "execute_code", "code": WRITE_SIGNAL})
        e.step({"action": "submit"})
        with pytest.raises(ValueError, match="Did you mean `data_seed`"):
            e.reset(options={"data_sed": 2})
    assert first.parent.parent.parent == second.parent.parent.parent, "one run per env"
    assert "data-0" in first.name and "data-1" in second.name
    result = EpisodeResult.load(second / "result.json")
    assert result.data_seed == 1 and result.spec is not None and result.spec.data_seed == 1
    interrupted = EpisodeResult.load(first / "result.json")
    assert interrupted.status == "interrupted" and not interrupted.final.graded
    run = json.loads((first.parent.parent.parent / "run.json").read_text())
    assert len(run["invocations"]) == 1


def test_action_space_contains_exactly_what_step_accepts() -> None:
    from mledojo.types import action_space

    space = action_space()
    assert space.contains({"action": "submit"})
    assert space.contains({"action": "call_tool", "tool": "profile_dataset", "args": {"p": 1}})
    assert space.contains({"action": "execute_code", "code": "print(1)"})
    assert not space.contains({"action": "execute_code"})  # code is required
    assert not space.contains({"action": "submit", "code": "print(1)"})  # not submit's key
    assert not space.contains({"action": "launch_missiles"})
    assert not space.contains({"action": "call_tool", "tool": "t", "args": "{not json"})
    space.seed(0)
    for _ in range(50):
        sample = space.sample()
        assert space.contains(sample), sample


def test_invalid_actions_say_which_field_is_wrong(tmp_path: Path) -> None:
    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        e.reset(seed=0)
        obs, *_ = e.step({"action": "request_info", "topic": "secrets"})
    assert obs["status"] == "invalid_action"
    assert "topic" in obs["error_message"] and "validation error" not in obs["error_message"]


@pytest.mark.parametrize("vector", ["sync", "async"])
def test_vector_envs_step_with_partial_actions(vector: str) -> None:
    def make() -> gymnasium.Env[Any, Any]:
        return mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), budget={"max_steps": 3})

    if vector == "sync":
        envs: gymnasium.vector.VectorEnv[Any, Any, Any] = gymnasium.vector.SyncVectorEnv(
            [make, make]
        )
    else:  # text observations cannot live in shared memory: documented in docs/usage.md
        envs = gymnasium.vector.AsyncVectorEnv([make, make], shared_memory=False)
    try:
        obs, _ = envs.reset(seed=0)
        assert list(obs["status"]) == ["ready", "ready"]
        obs, _, terminated, _, _ = envs.step(
            [{"action": "execute_code", "code": "print(6*7)"}, {"action": "submit"}]
        )
        assert obs["stdout"][0].strip() == "42" and obs["status"][1] == "submitted"
        assert list(terminated) == [False, True]
    finally:
        envs.close()


def test_tool_calls_have_their_own_budget_and_are_discoverable(tmp_path: Path) -> None:
    budget = {"max_steps": 3, "max_tool_calls": 2}
    with mledojo.make(
        "pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r", budget=budget
    ) as e:
        obs, info = e.reset(seed=0)
        assert "Time left: 3600 s" in obs["info"] and "do NOT persist" in obs["info"]
        names = {t["name"] for t in info["task"]["tools"]}
        assert {"profile_dataset", "train_model", "write_submission"} <= names
        obs, *_ = e.step({"action": "request_info", "topic": "tools"})
        assert '"properties"' in obs["info"] and obs["steps_left"] == 2
        args = {"path": "/data/train.csv"}
        call = {"action": "call_tool", "tool": "profile_dataset", "args": args}
        for _ in range(2):
            obs, _, _, truncated, _ = e.step(call)
            assert obs["status"] == "ok" and obs["steps_left"] == 2 and not truncated
        obs, *_ = e.step(call)
        # past its budget a tool call is refused and costs a code step (no free spinning)
        assert obs["error_type"] == "ToolBudget" and obs["steps_left"] == 1
        e.step({"action": "submit"})
        result = result_of(e)
    assert result.tool_calls == 2 and result.steps == 5


def test_a_wrong_format_submission_says_why_without_host_paths(tmp_path: Path) -> None:
    short = (
        "import pandas as pd, os\n"
        "sub = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/sample_submission.csv')\n"
        "sub.iloc[:-3].to_csv('submission.csv', index=False)\n"
    )
    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        e.reset(seed=0)
        obs, *_ = e.step({"action": "execute_code", "code": short})
        hidden = [str(tmp_path), str(e.data.root)]
    assert obs["submission"] == "invalid" and obs["error_type"] == "InvalidSubmission"
    assert "missing" in obs["error_message"].lower()
    text = json.dumps(obs)
    assert not any(h in text for h in hidden), "a host path reached the agent"


class InterruptedStart(LocalSandbox):
    """Ctrl-C (or a dying batch's SIGINT) arriving while the sandbox starts."""

    def start(self, **kwargs: Any) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_during_sandbox_start_is_interrupted_not_infra(tmp_path: Path) -> None:
    env = mledojo.make("pump-failure", sandbox=InterruptedStart(), run_dir=tmp_path / "r")
    with pytest.raises(KeyboardInterrupt):
        env.reset(seed=0)
    result = EpisodeResult.load(tmp_path / "r" / "result.json")
    env.close()
    assert result.status == "interrupted" and result.sandbox.errors == 0


PREPARE_COUNT = """
import sys
import mledojo
from mledojo.sandbox.local import LocalSandbox

calls = []

class Counting(LocalSandbox):
    # counts the per-process hook when the episode calls it, not the backend's own use
    def __init__(self, **kw):
        super().__init__(**kw)
        self.starting = False

    def prepare(self):
        if not self.starting:
            calls.append(self.name)
        super().prepare()

    def start(self, **kw):
        self.starting = True
        try:
            super().start(**kw)
        finally:
            self.starting = False

runs = sys.argv[1]
for unsafe in (False, False, True):
    with mledojo.make("pump-failure", sandbox=Counting(unsafe=unsafe), runs_dir=runs) as env:
        env.reset(seed=0)
        env.reset(seed=1)
print(",".join(calls))
"""


def test_the_sandbox_prepare_hook_runs_once_per_process_and_kind(tmp_path: Path) -> None:
    """Six episodes of two kinds in one (fresh) process: two calls, not six."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", PREPARE_COUNT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "local,unsafe-local"
