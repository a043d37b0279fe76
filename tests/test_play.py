"""Whole episodes through `run_episode`: the baseline in Docker, resume, failure kinds, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

import mledojo
from mledojo.agent import Agent
from mledojo.artifacts import EpisodeResult
from mledojo.layout import RunLayout
from mledojo.play import run_episode
from mledojo.resolve import ResolvedEpisode, resolve_spec
from mledojo.sandbox import cleanup
from mledojo.testing.memory_sandbox import NAME as MEMORY


def local(agent: str = "crasher", **kw: Any) -> ResolvedEpisode:
    """An episode on the in-process sandbox double (play is tested, not the sandbox)."""
    return resolve_spec(competition="pump-failure", agent=agent, sandbox=MEMORY, **kw)


pytestmark = pytest.mark.usefixtures("memory_sandbox_kind")  # MEMORY names the double here


@pytest.mark.docker
@pytest.mark.slow
def test_baseline_on_pump_failure_in_docker(tmp_path: Path) -> None:
    """In the smallest resource class the docs suggest (two episodes on a 2-core machine)."""
    request = resolve_spec(
        competition="pump-failure",
        agent="baseline",
        sandbox="docker",
        resources={"cpus": 1, "memory_mb": 2048},
    )
    result = run_episode(request, runs_dir=tmp_path, run_id="r")
    assert result.status == "completed" and result.sandbox.kind == "docker"
    assert result.steps == 2  # the full solution ran: no out-of-memory, no fallback cell
    assert result.best_public_score is not None and result.best_public_score >= 0.80
    assert result.final.graded and result.final.private_score is not None
    assert result.final.leaderboard_kind == "reference"
    assert result.final.private_score >= 0.85  # 0.86612 on seed 0 (README)
    folder = RunLayout(tmp_path, "r").episode_folder(request.spec)
    assert folder.parent == tmp_path / "r" / "pump-failure-v2" / "baseline"
    assert json.loads((folder / "result.json").read_text())["final"]["graded"]
    from mledojo.sandbox.image import image_tag

    assert json.loads((tmp_path / "r" / "run.json").read_text())["image"] == image_tag()


@pytest.mark.slow
def test_the_baseline_fallback_cell_handles_a_high_cardinality_timestamp(tmp_path: Path) -> None:
    """The simple cell took pump-failure's timestamp (7,008 levels) as a categorical."""
    from agents.baseline.agent import BaselineAgent

    with mledojo.make("pump-failure", sandbox="local", run_dir=tmp_path / "r") as env:
        _, info = env.reset(seed=0)
        agent = BaselineAgent()
        agent.reset({}, info)
        obs, *_ = env.step({"action": "execute_code", "code": agent.code(simple=True)})
        assert obs["status"] == "ok", obs["stderr"][-2000:]
        assert obs["submission"] == "valid" and obs["public_score"] > 0.6


class CrashingAgent(Agent):
    """Makes one good submission, then raises: the good submission must still count."""

    name: ClassVar[str] = "crasher"

    def __init__(self) -> None:
        self.calls = 0

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            return {
                "action": "execute_code",
                "code": (
                    "import pandas as pd, os\n"
                    "t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')\n"
                    "h = t['hours_since_maintenance'].fillna(0)\n"
                    "pd.DataFrame({'id': t['id'], 'failure_24h': h / h.max()})"
                    ".to_csv('submission.csv', index=False)\n"
                ),
            }
        raise RuntimeError("the agent's own bug")


def test_agent_crash_is_agent_error_and_keeps_the_work(tmp_path: Path) -> None:
    result = run_episode(local(), agent=CrashingAgent(), runs_dir=tmp_path, run_id="r")
    assert result.status == "agent_error"
    assert "the agent's own bug" in (result.error or "")
    assert result.final.graded and result.final.private_score is not None


def test_finished_episode_is_skipped_on_resume(tmp_path: Path) -> None:
    agent = CrashingAgent()
    first = run_episode(local(), agent=agent, runs_dir=tmp_path, run_id="r")
    calls = agent.calls
    again = run_episode(local(), agent=agent, runs_dir=tmp_path, run_id="r")
    assert agent.calls == calls  # nothing ran
    assert again == first
    retried = run_episode(
        local(), agent=agent, runs_dir=tmp_path, run_id="r", retry=("agent_error",)
    )
    assert agent.calls > calls and retried.finished_at != first.finished_at
    aside = [p.name for p in RunLayout(tmp_path, "r").episode_folder(local().spec).parent.iterdir()]
    assert any(".attempt-" in name for name in aside), aside


@pytest.mark.parametrize(
    "change",
    [{"data_seed": 1}, {"agent_args": {"k": 1}}, {"budget": {"max_steps": 7}}, {"seed": 1}],
    ids=["data-seed", "agent-arg", "budget", "seed"],
)
def test_a_changed_spec_never_reuses_a_result(tmp_path: Path, change: dict[str, Any]) -> None:
    agent = CrashingAgent()
    first = run_episode(local(), agent=agent, runs_dir=tmp_path, run_id="r")
    calls = agent.calls
    second = run_episode(local(**change), agent=agent, runs_dir=tmp_path, run_id="r")
    assert agent.calls > calls, "the second spec was answered from the first one's folder"
    assert second.key != first.key and second.spec is not None
    for field, value in change.items():
        got = getattr(second.spec, field if field != "agent_args" else "agent")
        if field == "agent_args":
            assert got.args == value
        elif field == "budget":
            assert got.max_steps == value["max_steps"]
        else:
            assert got == value


AGENT_FILE = """
from typing import Any, ClassVar
from mledojo.agent import Agent

class Same(Agent):
    name: ClassVar[str] = "same"
    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        return {"action": "request_info", "topic": "{topic}"}
"""


def test_two_agent_files_with_one_class_name_keep_their_own_results(tmp_path: Path) -> None:
    paths = []
    for topic in ("metric", "budget"):
        path = tmp_path / topic / "agent.py"
        path.parent.mkdir()
        path.write_text(AGENT_FILE.replace("{topic}", topic))
        paths.append(str(path))
    results = [
        run_episode(local(p, budget={"max_steps": 1}), runs_dir=tmp_path / "runs", run_id="r")
        for p in paths
    ]
    assert results[0].key != results[1].key
    assert [r.agent for r in results] == paths
    for p, r in zip(paths, results, strict=True):
        folder = RunLayout(tmp_path / "runs", "r").episode_folder(
            local(p, budget={"max_steps": 1}).spec
        )
        assert EpisodeResult.load(folder / "result.json") == r


def test_a_failed_preparation_still_writes_a_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mledojo.env
    from mledojo.errors import DataError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise DataError("generate.py raised: the disk is full")

    monkeypatch.setattr(mledojo.env, "prepare", broken)
    result = run_episode(local(), agent=CrashingAgent(), runs_dir=tmp_path, run_id="r")
    assert result.status == "infra_error" and "disk is full" in result.end_reason
    folder = RunLayout(tmp_path, "r").episode_folder(local().spec)
    assert EpisodeResult.load(folder / "result.json") == result


def test_run_manifest_records_the_run(tmp_path: Path) -> None:
    run_episode(local(), agent=CrashingAgent(), runs_dir=tmp_path, run_id="r")
    run_episode(local(seed=1), agent=CrashingAgent(), runs_dir=tmp_path, run_id="r")
    manifest = json.loads((tmp_path / "r" / "run.json").read_text())
    assert manifest["run_id"] == "r" and manifest["host"]["cpus"] == os.cpu_count()
    assert manifest["versions"]["mledojo"] and len(manifest["invocations"]) == 1
    assert manifest["git_sha"] is None or len(manifest["git_sha"]) == 40


def test_a_v1_result_still_loads(tmp_path: Path) -> None:
    v1 = {
        "schema_version": 1,
        "competition": "pump-failure",
        "competition_version": 1,
        "data_seed": 0,
        "agent": "baseline",
        "seed": 0,
        "status": "completed",
        "end_reason": "submitted",
        "steps": 3,
        "wall_time_s": 1.5,
        "best_public_score": 0.88,
        "best_public_human_rank": 0.9,
        "final": {"graded": True, "private_score": 0.87},
        "metric": "roc_auc",
        "higher_is_better": True,
        "llm_cost_usd": 0.25,
        "sandbox": "docker",
    }
    (tmp_path / "result.json").write_text(json.dumps(v1))
    result = EpisodeResult.load(tmp_path / "result.json")
    assert result.sandbox.kind == "docker" and result.llm.usd == 0.25
    assert result.spec is None and result.final.private_score == 0.87
    assert result.final.interval is None and result.final.medal_probabilities is None
    assert result.final.interval is None and result.final.medal_probabilities is None


class NoDocker(Agent):
    name: ClassVar[str] = "nodocker"

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        return {"action": "submit"}


def test_missing_sandbox_is_infra_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    request = resolve_spec(competition="pump-failure", agent="nodocker", sandbox="docker")
    result = run_episode(request, agent=NoDocker(), runs_dir=tmp_path, run_id="r")
    assert result.status == "infra_error"
    assert "Docker is not available" in result.end_reason


CTRL_C_SCRIPT = """
import sys, mledojo
env = mledojo.make("pump-failure", sandbox="docker", run_dir=sys.argv[1])
env.reset(seed=0)
print("STEPPING", flush=True)
env.step({"action": "execute_code", "code": "import time; time.sleep(120)"})
"""


@pytest.mark.docker
def test_ctrl_c_during_a_step_leaves_no_container(tmp_path: Path, docker_client: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while "STEPPING" not in proc.stdout.readline():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(1.0)
        mine = [f"mledojo.owner_pid={proc.pid}"]
        assert cleanup.list_labelled(docker_client, mine), "no container started"
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    left = cleanup.list_labelled(docker_client, mine)
    assert left == [], [c.name for c in left]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "interrupted"


def test_runs_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLEDOJO_RUNS_DIR", str(tmp_path / "elsewhere"))
    run_episode(local(), agent=CrashingAgent(), run_id="r")
    assert (tmp_path / "elsewhere" / "r" / "pump-failure-v2" / "crasher").is_dir()


def test_run_ids_started_in_the_same_second_differ() -> None:
    from mledojo.layout import new_run_id

    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50


class ReportsItsModel(Agent):
    """Charges one model call to the env and reports two in its outcome (the same calls
    plus one it forgot to charge): the result keeps the larger, field by field."""

    name: ClassVar[str] = "reporter"

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        return {"action": "submit"}

    def run(self, env: Any, *, seed: int | None = None) -> Any:
        from mledojo.agent import AgentOutcome
        from mledojo.artifacts import LLMUsage

        env.reset(seed=seed)
        env.charge_llm(LLMUsage(calls=1, input_tokens=100, output_tokens=10, usd=0.01))
        env.step({"action": "submit"})
        reported = LLMUsage(calls=2, input_tokens=250, output_tokens=20, usd=0.03)
        return AgentOutcome(steps=1, total_reward=0, terminated=True, truncated=False, llm=reported)


def test_the_agents_reported_llm_usage_reaches_the_result(tmp_path: Path) -> None:
    result = run_episode(local("reporter"), agent=ReportsItsModel(), runs_dir=tmp_path, run_id="r")
    assert result.llm.calls == 2 and result.llm.usd == pytest.approx(0.03)
    assert result.llm.input_tokens == 250
    on_disk = EpisodeResult.load(
        RunLayout(tmp_path, "r").episode_folder(local("reporter").spec) / "result.json"
    )
    assert on_disk.llm == result.llm
