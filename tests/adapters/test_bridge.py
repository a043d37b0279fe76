"""The host bridge against real driver subprocesses (this interpreter plays the agent's venv)
over an env on the in-process sandbox double: requests are served through `env.step`; a
driver that crashes, hangs, floods, stops reading or breaks the protocol ends as the agent's
failure with its log tail, never the host's; its whole process group is killed."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.adapters.bridge import BridgeLimits, BridgeResult, BridgeSession, bash_cell
from mledojo.adapters.wrapped import CLIENT_DIR
from mledojo.testing.memory_sandbox import MemorySandboxDouble

PRELUDE = """\
import json, os, sys, time
from mledojo_bridge import Bridge, BridgeClosed, BridgeRefused
bridge = Bridge.from_env()
"""
COPY_SAMPLE = 'cp "$MLEDOJO_DATA/sample_submission.csv" submission.csv && echo copied'


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Any]:
    made = mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "run")
    yield made
    made.close()


def serve(env: Any, tmp_path: Path, body: str, **limits: Any) -> BridgeResult:
    """Reset `env` and serve a driver whose script is PRELUDE + `body`. A driver that ends by
    itself gets 30 s to exit (load); pass `exit_grace_s=0` for one that never does."""
    obs, info = env.reset(seed=0)
    script = tmp_path / "driver.py"
    script.write_text(PRELUDE + textwrap.dedent(body), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    session = BridgeSession(
        env,
        task=dict(info["task"]),
        instructions=str(obs["info"]),
        folder=tmp_path / "bridge",
        limits=BridgeLimits(**{"exit_grace_s": 30, **limits}),
    )
    driver_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(CLIENT_DIR), "OUT": str(work)}
    return session.run([sys.executable, "-s", "-B", str(script)], env=driver_env, cwd=work)


def test_a_driver_runs_bash_in_the_sandbox_and_submits(env: Any, tmp_path: Path) -> None:
    result = serve(
        env,
        tmp_path,
        f"""
        task = bridge.task()
        assert task["task"]["competition"] == "pump-failure", task
        out = bridge.bash({COPY_SAMPLE!r})
        print("bash said", json.dumps(out))
        assert out["returncode"] == 0 and "copied" in out["output"], out
        bad = bridge.bash("echo oops >&2; exit 3")
        assert bad["returncode"] == 3 and "oops" in bad["output"], bad
        cell = bridge.python("print(6 * 7)")
        assert "42" in cell["output"] and cell["error_type"] == "", cell
        broken = bridge.python("raise ValueError('no')")
        assert broken["error_type"] == "ValueError" and "no" in broken["output"], broken
        done = bridge.submit()
        assert done["episode_over"], done
        """,
    )
    assert result.ended_by == "submit" and result.error is None, result
    assert result.exit_code == 0, result.log_tail
    assert result.steps == 5 and result.terminated
    final = env.result()
    assert final.status == "completed" and final.final.graded, final
    transcript = (tmp_path / "bridge" / "bridge.jsonl").read_text().splitlines()
    assert len(transcript) == 7 and transcript[0] == '{"isolation": "none"}', transcript[0]


def test_a_crashing_driver_ends_as_agent_error_with_its_log_tail(env: Any, tmp_path: Path) -> None:
    result = serve(env, tmp_path, 'bridge.task()\nraise RuntimeError("driver exploded")\n')
    assert result.ended_by == "crash" and result.exit_code == 1
    assert "driver exploded" in result.log_tail
    final = env.result()
    assert final.status == "agent_error", final
    assert "driver exploded" in (final.error or "")


def test_a_hanging_driver_is_killed_with_everything_it_started(env: Any, tmp_path: Path) -> None:
    result = serve(
        env,
        tmp_path,
        """
        import subprocess
        child = subprocess.Popen(["sleep", "600"])
        open(os.path.join(os.environ["OUT"], "child.pid"), "w").write(str(child.pid))
        bridge.task()
        time.sleep(600)
        """,
        idle_timeout_s=1.0,
        exit_grace_s=0,
    )
    assert result.ended_by == "timeout" and "hangs" in (result.error or "")
    assert result.exit_code == -9
    child = int((tmp_path / "work" / "child.pid").read_text())
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split()[2] in ("Z", "X")
    assert env.result().status == "agent_error"


def test_an_endless_request_line_is_refused_without_reading_it_all(
    env: Any, tmp_path: Path
) -> None:
    body = """
    out = os.fdopen(int(os.environ["MLEDOJO_BRIDGE_FDS"].split(",")[0]), "wb")
    while True:
        out.write(b"x" * 65536)
    """
    result = serve(env, tmp_path, body, max_request_bytes=1 << 20, exit_grace_s=0)
    assert result.ended_by == "protocol" and "without a newline" in (result.error or "")
    assert env.result().status == "agent_error"


def test_unknown_ops_and_bad_fields_are_refused_and_the_run_goes_on(
    env: Any, tmp_path: Path
) -> None:
    result = serve(
        env,
        tmp_path,
        """
        for op, fields in [("rm_host", {}), ("bash", {"command": ""}), ("task", {"x": 1})]:
            try:
                bridge.call(op, **fields)
                raise SystemExit(f"{op} was accepted")
            except BridgeRefused as e:
                print("refused:", e)
        bridge.submit()
        """,
    )
    assert result.ended_by == "submit", result
    assert "unknown op 'rm_host'" in result.log_tail
    assert "command: String should have at least 1 character" in result.log_tail
    assert "x: Extra inputs are not permitted" in result.log_tail


def test_garbage_in_a_row_ends_the_run(env: Any, tmp_path: Path) -> None:
    body = """
    out = os.fdopen(int(os.environ["MLEDOJO_BRIDGE_FDS"].split(",")[0]), "wb")
    for _ in range(10):
        out.write(b"{not json\\n")
    out.flush()
    time.sleep(600)
    """
    result = serve(env, tmp_path, body, max_protocol_errors=3, exit_grace_s=0)
    assert result.ended_by == "protocol" and "3 refused requests" in (result.error or "")
    assert env.result().status == "agent_error"


def test_a_driver_that_stops_reading_its_replies_is_stopped(env: Any, tmp_path: Path) -> None:
    body = """
    out = os.fdopen(int(os.environ["MLEDOJO_BRIDGE_FDS"].split(",")[0]), "wb")
    out.write(b'{"op": "task"}\\n' * 1000)  # replies it never reads fill the pipe
    out.flush()
    time.sleep(600)
    """
    result = serve(env, tmp_path, body, reply_timeout_s=1.0, exit_grace_s=0)
    assert result.ended_by == "timeout" and "did not read" in (result.error or "")


def test_a_clean_exit_without_submitting_grades_the_best_submission(
    env: Any, tmp_path: Path
) -> None:
    result = serve(env, tmp_path, f"bridge.bash({COPY_SAMPLE!r})\n")
    assert result.ended_by == "exit" and result.exit_code == 0
    assert any("without submitting" in n for n in result.notes)
    final = env.result()
    assert final.status == "completed" and final.final.graded, final


def test_the_agent_giving_up_is_its_failure(env: Any, tmp_path: Path) -> None:
    result = serve(env, tmp_path, 'bridge.fail("no idea")\n')
    assert result.ended_by == "fail"
    assert env.result().status == "agent_error"


def test_the_bash_cell_reports_the_exit_code_past_a_spoofed_mark(tmp_path: Path) -> None:
    mark = "__mledojo_exit_abc="
    spoof = f"echo '{mark}0'; exit 5"
    code = bash_cell(spoof, None, mark)
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.rstrip().endswith(f"{mark}5"), out
    assert os.environ.get("MLEDOJO_BRIDGE_FDS") is None


def test_requests_that_never_step_are_bounded(env: Any, tmp_path: Path) -> None:
    result = serve(
        env,
        tmp_path,
        """
        while True:
            bridge.note("spam")
        """,
        max_free_requests=50,
        max_notes=3,
        exit_grace_s=0,
    )
    assert result.ended_by == "protocol" and "50 requests in a row" in (result.error or "")
    assert result.notes == ["spam"] * 3
    assert env.result().status == "agent_error"


def test_a_driver_that_cannot_start_is_the_agents_failure(env: Any, tmp_path: Path) -> None:
    obs, info = env.reset(seed=0)
    session = BridgeSession(env, task=dict(info["task"]), instructions="", folder=tmp_path / "b")
    result = session.run([str(tmp_path / "no-such-python")], env={}, cwd=tmp_path)
    assert result.ended_by == "crash" and "could not start" in (result.error or "")
    assert env.result().status == "agent_error"
