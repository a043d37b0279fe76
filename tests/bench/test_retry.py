"""Infrastructure failures: reported apart, never re-rolled silently, retried with `--retry infra`.

The agent here provokes an infrastructure error (it raises `SandboxError`, as a sandbox
fault would) on its first play of each episode and stops quietly on the second. A rerun of
the same command must not play it again; `--retry infra` does, and the second attempt is
visible in `bench-log.jsonl` and as a set-aside attempt folder. No container starts (the
agent fails before `reset`), so this test is fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mledojo.artifacts import EpisodeResult

AGENT = """
from pathlib import Path
from typing import ClassVar

from mledojo.agent import Agent, AgentOutcome
from mledojo.errors import SandboxError

MARKS = Path({marks!r})


class FlakyAgent(Agent):
    name: ClassVar[str] = "flaky"

    def run(self, env, *, seed=None):
        mark = MARKS / f"seed-{{seed}}"
        if not mark.exists():
            mark.write_text("provoked")
            raise SandboxError("the agent broke the sandbox")
        return AgentOutcome(steps=0, total_reward=0.0, terminated=False, truncated=False)

    def act(self, observation):
        return {{"action": "submit"}}
"""


@pytest.mark.slow
def test_infra_errors_are_reported_apart_and_retried_only_when_asked(
    tmp_path: Path, bh: Any
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    agent = tmp_path / "flaky.py"
    agent.write_text(AGENT.format(marks=str(marks)))
    runs = tmp_path / "runs"
    args = ["--agents", str(agent), "--competitions", "titanic", "--seeds", "2"]
    args += ["--sandbox", "docker", "--workers", "2"]

    first = bh.run_bench(runs, *args)
    assert first.returncode == 1, first.stderr  # infrastructure failures: not a success
    assert first.stderr.count("INFRA infra_error") == 2, first.stderr
    assert "infrastructure failures │ 2" in first.stdout.replace("|", "│"), first.stdout
    assert "--retry infra" in first.stdout

    again = bh.run_bench(runs, *args)  # the same command: no free re-roll
    assert "2 finished earlier (skipped)" in again.stderr, again.stderr
    assert "start " not in again.stderr

    retried = bh.run_bench(runs, *args, "--retry", "infra")
    assert "(attempt 2)" in retried.stderr, retried.stderr
    run = bh.only_run(runs)
    statuses = [EpisodeResult.load(p).status for p in bh.results(run)]
    assert statuses == ["agent_error", "agent_error"]  # never reset: the agent's own fault now
    ends = [e for e in bh.log_events(run) if e["event"] == "end"]
    assert sorted((e["status"], e["attempt"]) for e in ends) == [
        ("agent_error", 2),
        ("agent_error", 2),
        ("infra_error", 1),
        ("infra_error", 1),
    ]
    assert len(list(run.glob("titanic-v1/*/*.attempt-*"))) == 2
