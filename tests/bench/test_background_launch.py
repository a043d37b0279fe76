"""A bench started in the background (SIGINT inherited as ignored) still stops on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

IGNORE_SIGINT_THEN_EXEC = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


@pytest.mark.skipif(os.geteuid() != 0, reason="the local sandbox needs root")
@pytest.mark.parametrize("when", ["mid-episode", "at-start"])
def test_a_bench_launched_with_sigint_ignored_stops_its_episodes(
    tmp_path: Path, bh: Any, when: str
) -> None:
    """Mid-episode: the episode closes as interrupted. At start (the worker may still be
    importing): an episode that never began is interrupted too, not a dead worker (infra)."""
    cmd = bh.bench_cmd(
        tmp_path,
        "--agents",
        bh.slow_agent,
        "--competitions",
        "titanic",
        "--seeds",
        "1",
        "--sandbox",
        "local",
        "--max-steps",
        "3",
    )
    started = tmp_path / "started"
    # what `cmd &` in a script does: the child starts with SIGINT ignored
    proc = subprocess.Popen(
        [sys.executable, "-c", IGNORE_SIGINT_THEN_EXEC, *cmd[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", bh.slow_agent_started_env: str(started)},
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:  # wait until the episode has started, then Ctrl-C
        seen.append(line)
        if line.startswith("start "):
            break
        assert time.monotonic() < deadline, "".join(seen)
    while (
        when == "mid-episode" and not started.exists()
    ):  # the agent sent its first cell (which sleeps 10 s)
        assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the bench ignored SIGINT: " + "".join(seen)) from None
    output = "".join(seen) + rest
    assert proc.returncode == 130, output
    run = bh.only_run(tmp_path)
    events = [json.loads(x) for x in (run / "bench-log.jsonl").read_text().splitlines()]
    assert [e["status"] for e in events if e["event"] == "end"] == ["interrupted"], output


@pytest.mark.parametrize(
    ("stopping", "returncode", "began", "interrupted"),
    [
        (True, 130, True, True),  # the worker's own Ctrl-C exit
        (True, -signal.SIGINT, True, True),  # killed by SIGINT before Python's handler
        # the at-start case under load (CI): the Ctrl-C landed while the interpreter still
        # started, which exits 1 with an import traceback; no episode folder: not a dead worker
        (True, 1, False, True),
        (True, 1, True, False),  # a folder, no outcome, exit 1: it died during its episode
        (False, 1, False, False),  # no Ctrl-C from us: a dead worker whatever the exit
        (False, 130, False, False),
    ],
)
def test_a_worker_stopped_before_its_episode_began_is_interrupted_not_dead(
    stopping: bool, returncode: int, began: bool, interrupted: bool
) -> None:
    from mledojo.bench.executors import interrupted_before_begin

    assert interrupted_before_begin(stopping, returncode, began=began) is interrupted
