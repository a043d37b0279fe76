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

from mledojo.agent import Agent
from mledojo.runner import run_episode


@pytest.mark.docker
@pytest.mark.slow
def test_baseline_on_pump_failure_in_docker(tmp_path: Path) -> None:
    result = run_episode(
        "pump-failure",
        "baseline",
        seed=0,
        runs_dir=tmp_path,
        run_id="r",
        env_kwargs={"sandbox": "docker"},
    )
    assert result.status == "completed" and result.sandbox == "docker"
    assert result.best_public_score is not None and result.best_public_score >= 0.80
    assert result.final.graded and result.final.private_score is not None
    assert result.final.leaderboard_kind == "reference"
    folder = tmp_path / "r" / "pump-failure" / "baseline" / "seed-0"
    assert json.loads((folder / "result.json").read_text())["final"]["graded"]


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
    result = run_episode(
        "pump-failure",
        CrashingAgent(),
        seed=0,
        runs_dir=tmp_path,
        run_id="r",
        env_kwargs={"sandbox": "local"},
    )
    assert result.status == "agent_error"
    assert "the agent's own bug" in (result.error or "")
    assert result.final.graded and result.final.private_score is not None


def test_finished_episode_is_skipped_on_resume(tmp_path: Path) -> None:
    agent = CrashingAgent()
    first = run_episode(
        "pump-failure",
        agent,
        seed=0,
        runs_dir=tmp_path,
        run_id="r",
        env_kwargs={"sandbox": "local"},
    )
    calls = agent.calls
    again = run_episode(
        "pump-failure",
        agent,
        seed=0,
        runs_dir=tmp_path,
        run_id="r",
        env_kwargs={"sandbox": "local"},
    )
    assert agent.calls == calls  # nothing ran
    assert again == first


class NoDocker(Agent):
    name: ClassVar[str] = "nodocker"

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        return {"action": "submit"}


def test_missing_sandbox_is_infra_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    result = run_episode(
        "pump-failure",
        NoDocker(),
        seed=0,
        runs_dir=tmp_path,
        run_id="r",
        env_kwargs={"sandbox": "docker"},
    )
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
        mine = {"label": [f"mledojo.owner_pid={proc.pid}"]}
        assert docker_client.containers.list(all=True, filters=mine), "no container started"
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    left = docker_client.containers.list(all=True, filters=mine)
    assert left == [], [c.name for c in left]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "interrupted"


def test_runs_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLEDOJO_RUNS_DIR", str(tmp_path / "elsewhere"))
    run_episode(
        "pump-failure", CrashingAgent(), seed=0, run_id="r", env_kwargs={"sandbox": "local"}
    )
    assert (tmp_path / "elsewhere" / "r" / "pump-failure").is_dir()


def test_run_ids_started_in_the_same_second_differ() -> None:
    from mledojo.runner import new_run_id

    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
