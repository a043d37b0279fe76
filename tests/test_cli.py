"""The `mledojo` command as a user runs it: a real subprocess, real output, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest


def mledojo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mledojo.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_help_shows_examples() -> None:
    res = mledojo("--help")
    assert res.returncode == 0
    assert "mledojo run pump-failure --agent baseline" in res.stdout
    sub = mledojo("grade", "--help")
    assert "Example" in sub.stdout and "--part" in sub.stdout


def test_list_shows_pump_failure_and_splits() -> None:
    res = mledojo("list")
    assert res.returncode == 0, res.stderr
    assert "pump-failure" in res.stdout and "roc_auc" in res.stdout
    lite = mledojo("list", "--split", "lite")
    assert "pump-failure" in lite.stdout


def test_unknown_competition_is_one_clear_line() -> None:
    res = mledojo("info", "pump-failur")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "Did you mean `pump-failure" in res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) <= 3


@pytest.mark.slow
def test_prepare_then_grade_sample_and_invalid(tmp_path: Path) -> None:
    env = {"MLEDOJO_CACHE_DIR": str(tmp_path / "cache")}
    res = mledojo("prepare", "pump-failure", env=env)
    assert res.returncode == 0, res.stderr
    assert "built" in res.stdout
    again = mledojo("prepare", "pump-failure", env=env)
    assert "reused" in again.stdout
    public = Path(again.stdout.split("public:")[1].split()[0])
    graded = mledojo(
        "grade", "pump-failure", str(public / "sample_submission.csv"), "--part", "public", env=env
    )
    assert graded.returncode == 0, graded.stderr
    assert "0.5" in graded.stdout and "HumanRank" in graded.stdout
    assert "reference pool" in graded.stdout
    assert "95 % interval" in graded.stdout and "medal chances" in graded.stdout
    bad = tmp_path / "bad.csv"
    pd.read_csv(public / "sample_submission.csv").iloc[:-3].to_csv(bad, index=False)
    rejected = mledojo("grade", "pump-failure", str(bad), env=env)
    assert rejected.returncode == 1
    assert "Traceback" not in rejected.stderr
    assert "bad.csv" in rejected.stderr and "missing" in rejected.stderr.lower()


@pytest.mark.parametrize(
    "args",
    [
        ["grade", "pump-failure", "x.csv", "--part", "secret"],
        ["run", "pump-failure", "--sandbox", "vm"],
    ],
)
def test_bad_options_exit_nonzero(args: list[str]) -> None:
    res = mledojo(*args)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr


def test_version_and_agents() -> None:
    from mledojo import __version__

    res = mledojo("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"mledojo {__version__}"
    listed = mledojo("agents", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "baseline" in json.loads(listed.stdout)


@pytest.mark.slow
def test_json_outputs_parse(tmp_path: Path) -> None:
    rows = json.loads(mledojo("list", "--json").stdout)
    assert "pump-failure" in {r["id"] for r in rows["competitions"]}
    info = json.loads(mledojo("info", "pump-failure", "--json").stdout)
    assert info["metric"]["name"] == "roc_auc" and info["description_text"]
    env = {"MLEDOJO_CACHE_DIR": str(tmp_path / "cache")}
    public = Path(mledojo("prepare", "pump-failure", env=env).stdout.split("public:")[1].split()[0])
    graded = mledojo(
        "grade", "pump-failure", str(public / "sample_submission.csv"), "--json", env=env
    )
    report = json.loads(graded.stdout)
    assert report["score"] == pytest.approx(0.5)
    lo, hi = report["interval"]  # a constant submission: every resample scores 0.5
    assert lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
    assert set(report["medal_probabilities"]) == {"gold", "silver", "bronze"}


def test_names_are_checked_before_any_docker_work() -> None:
    started = time.monotonic()
    res = mledojo("run", "pump-failur", "--sandbox", "docker", env={"DOCKER_HOST": "unix:///no"})
    assert res.returncode == 1 and "Did you mean `pump-failure" in res.stderr
    bad_agent = mledojo("run", "pump-failure", "--agent", "basline", "--sandbox", "docker")
    assert bad_agent.returncode == 1 and "baseline" in bad_agent.stderr
    assert "Docker" not in res.stderr + bad_agent.stderr
    assert time.monotonic() - started < 120


TINY_AGENT = """
from typing import Any, ClassVar
from mledojo.agent import Agent

class Tiny(Agent):
    name: ClassVar[str] = "tiny"

    def __init__(self, topic: str = "metric") -> None:
        self.topic = topic

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        return {"action": "request_info", "topic": self.topic}
"""


def test_run_an_agent_file_with_arguments_prints_a_real_folder(tmp_path: Path) -> None:
    agent = tmp_path / "tiny.py"
    agent.write_text(TINY_AGENT)
    args = ["run", "pump-failure", "--agent", str(agent), "--agent-arg", "topic=budget"]
    args += ["--sandbox", "local", "--max-steps", "2", "--json"]
    res = mledojo(*args, env={"MLEDOJO_RUNS_DIR": str(tmp_path / "runs")})
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    folder = Path(result["run_dir"])
    assert folder.is_dir() and (folder / "result.json").is_file()
    assert folder.is_relative_to(tmp_path / "runs")
    assert result["spec"]["agent"] == {"name": str(agent), "args": {"topic": "budget"}}
    assert result["spec"]["budget"]["max_steps"] == 2 and result["steps"] == 2
    lines = (folder / "trajectory.jsonl").read_text().splitlines()
    assert "Steps left" in json.loads(lines[1])["obs"]["info"]
    table = mledojo(*args[:-1], env={"MLEDOJO_RUNS_DIR": str(tmp_path / "runs2")})
    assert "local (weaker isolation)" in table.stdout and "sandbox" in table.stdout
    bad = mledojo(*args[:4], "--agent-arg", "topik=x", "--sandbox", "local")
    assert bad.returncode == 1 and "Did you mean `topic`" in bad.stderr


def test_llm_options_are_agent_arguments(tmp_path: Path) -> None:
    agent = tmp_path / "tiny.py"
    agent.write_text(TINY_AGENT)
    res = mledojo("run", "pump-failure", "--agent", str(agent), "--model", "rules")
    assert res.returncode == 1 and "takes no argument 'model'" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the local sandbox needs root")
def test_ctrl_c_on_run_exits_130_without_a_traceback(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole foreground group, the grading worker included."""
    slow_agent = Path(__file__).parent / "bench" / "slow_agent.py"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mledojo.cli", "run", "titanic", "--agent", str(slow_agent)]
        + ["--sandbox", "local", "--runs-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("*/titanic-v1/*/*/trajectory.jsonl")):  # the episode runs
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "Error" not in out, out
    (result,) = tmp_path.glob("*/titanic-v1/*/*/result.json")
    assert json.loads(result.read_text())["status"] == "interrupted"


@pytest.mark.docker
def test_image_list_names_the_current_image() -> None:
    from mledojo.sandbox.image import image_tag

    res = mledojo("image", "list", "--json")
    assert res.returncode == 0, res.stderr
    images = json.loads(res.stdout)
    current = [i for i in images if i["current"]]
    assert [i["tag"] for i in current] == [image_tag()] and current[0]["kind"] == "runtime"
    assert "clean" in mledojo("image", "--help").stdout


def test_run_prints_the_final_interval_and_medal_chances(tmp_path: Path) -> None:
    """`mledojo run`'s result table shows the final grade's interval and medal chances."""
    from rich.console import Console

    from mledojo.artifacts import EpisodeResult
    from mledojo.cli import _result_table

    result = EpisodeResult.model_validate(
        {
            "competition": "titanic",
            "competition_version": 1,
            "data_seed": 0,
            "agent": "baseline",
            "seed": 0,
            "status": "completed",
            "end_reason": "submitted",
            "steps": 3,
            "wall_time_s": 1.5,
            "best_public_score": 0.8,
            "best_public_human_rank": 0.5,
            "final": {
                "graded": True,
                "private_score": 0.79,
                "private_human_rank": 0.6,
                "medal": "none",
                "leaderboard_kind": "kaggle",
                "leaderboard_entries": 100,
                "interval": [0.71, 0.86],
                "medal_probabilities": {"gold": 0.05, "silver": 0.12, "bronze": 0.31},
            },
            "metric": "accuracy",
            "higher_is_better": True,
            "sandbox": {"kind": "docker"},
        }
    )
    console = Console(record=True, width=200)
    console.print(_result_table(result, "t", tmp_path))
    text = console.export_text()
    assert "0.71 to 0.86" in text
    assert "gold 5%, silver or better 12%, any medal 31%" in text


def test_cleanup_without_docker_still_reaps_and_says_so(tmp_path: Path) -> None:
    """It used to end in a Docker traceback before looking at control folders or volumes."""
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    result = mledojo("cleanup", env=env)
    assert result.returncode == 0, result.stderr
    assert "Docker is not reachable" in result.stdout
    assert "Traceback" not in result.stderr
