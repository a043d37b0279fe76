"""Helpers for the bench tests: the bench command in a subprocess, and its run folder.

The fastest real competitions (a few hundred rows each) keep Docker time small; each
episode gets 1 CPU and 2 GB so two run side by side on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FAST_COMPETITIONS = ["playground-series-s3e12", "titanic", "playground-series-s3e3"]
SLOW_AGENT = str(Path(__file__).with_name("slow_agent.py"))  # baseline + 10 s: caught mid-way
SMALL = ["--cpus", "1", "--memory-mb", "2048", "--max-steps", "3", "--sandbox", "docker"]


def bench_cmd(runs_dir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mledojo.bench.cli",
        "bench",
        "--runs-dir",
        str(runs_dir),
        "--plain",
        "--start-interval",
        "0.2",
        *args,
    ]


def run_bench(runs_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bench_cmd(runs_dir, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def start_bench(runs_dir: Path, *args: str) -> subprocess.Popen[str]:
    """The bench in the background, its output (stdout and stderr) a line-buffered pipe."""
    proc = subprocess.Popen(
        bench_cmd(runs_dir, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    return proc


def only_run(runs_dir: Path) -> Path:
    runs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def results(run: Path) -> list[Path]:
    """Every current episode result (attempts set aside are not counted)."""
    return sorted(p for p in run.glob("*/*/*/result.json") if ".attempt-" not in p.parent.name)


def log_events(run: Path) -> list[dict[str, Any]]:
    lines = (run / "bench-log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


class BenchHelpers:
    """The helpers above, as a fixture (test modules cannot import a conftest by name)."""

    fast_competitions = FAST_COMPETITIONS
    slow_agent = SLOW_AGENT
    slow_agent_started_env = "MLEDOJO_TEST_STARTED_FILE"  # slow_agent.py's STARTED_ENV
    small = SMALL
    bench_cmd = staticmethod(bench_cmd)
    run_bench = staticmethod(run_bench)
    start_bench = staticmethod(start_bench)
    only_run = staticmethod(only_run)
    results = staticmethod(results)
    log_events = staticmethod(log_events)


@pytest.fixture(scope="session")
def bh() -> BenchHelpers:
    return BenchHelpers()
