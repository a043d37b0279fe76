"""A real bench in Docker: two workers, SIGINT part-way, resumed, every episode exactly once."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from mledojo.artifacts import EpisodeResult
from mledojo.bench.executors import NOT_BEGUN
from mledojo.bench.plan import load_plan
from mledojo.sandbox import cleanup

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _run_containers(docker_client: Any, run_id: str) -> list[Any]:
    return cleanup.list_labelled(docker_client, [f"mledojo.run={run_id}"])


def test_killed_bench_resumes_and_runs_every_episode_exactly_once(
    tmp_path: Path, docker_client: Any, bh: Any
) -> None:
    args = [
        "--agents",
        bh.slow_agent,
        "--competitions",
        ",".join(bh.fast_competitions),
        "--seeds",
        "2",
        "--workers",
        "2",
        *bh.small,
        "--start-interval",
        "4",  # staggered: when the first episode ends, the second is mid-way
    ]
    proc = bh.start_bench(tmp_path, *args)
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 400
    for line in proc.stdout:  # wait until one episode has finished, then Ctrl-C
        seen.append(line)
        if line.startswith("[") and "/6]" in line:
            break
        assert time.monotonic() < deadline, "".join(seen)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    output = "".join(seen) + rest
    assert proc.returncode == 130, output
    assert "interrupted" in output
    run = bh.only_run(tmp_path)
    assert _run_containers(docker_client, run.name) == [], "a container was left behind"
    first = {p: EpisodeResult.load(p) for p in bh.results(run)}
    finished_first = {p: r for p, r in first.items() if r.status != "interrupted"}
    assert 1 <= len(finished_first) < 6, output
    stopped = [e for e in bh.log_events(run) if e.get("status") in ("interrupted", "worker_died")]
    assert stopped, "no episode was stopped mid-way: the test did not test resuming"
    stamps = {p: r.finished_at for p, r in finished_first.items()}

    again = bh.run_bench(tmp_path, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(finished_first)} finished earlier (skipped)" in again.stderr
    plan = load_plan(run)
    final = {p: EpisodeResult.load(p) for p in bh.results(run)}
    assert sorted(r.key for r in final.values()) == sorted(plan.keys)  # each exactly once
    assert all(r.status == "completed" for r in final.values()), final
    for path, stamp in stamps.items():  # finished work was kept, never replayed
        assert final[path].finished_at == stamp
    ends = [e for e in bh.log_events(run) if e["event"] == "end" and e["status"] == "completed"]
    assert sorted(e["key"] for e in ends) == sorted(plan.keys)
    # an interrupted episode was played again, and the board can see its earlier attempt
    # (one stopped before it began has no earlier attempt: nothing was played)
    interrupted = [e for e in bh.log_events(run) if e.get("status") == "interrupted"]
    for e in interrupted:
        if e["reason"] == NOT_BEGUN:
            continue
        assert any(x["key"] == e["key"] and x["attempt"] >= 2 for x in ends)
    assert _run_containers(docker_client, run.name) == []
    bundle = json.loads((run / "bundle.json").read_text())
    assert len([f for f in bundle["files"] if f.endswith("/result.json")]) >= 6

    third = bh.run_bench(tmp_path, *args)  # a third time: nothing to do
    assert third.returncode == 0
    assert "6 finished earlier (skipped)" in third.stderr
    assert "start " not in third.stderr


def test_a_crashed_scheduler_leaves_no_container_and_loses_no_finished_episode(
    tmp_path: Path, docker_client: Any, bh: Any
) -> None:
    args = ["--agents", bh.slow_agent, "--competitions", "titanic", "--seeds", "2"]
    args += ["--workers", "2", *bh.small, "--start-interval", "4"]
    proc = bh.start_bench(tmp_path, *args)
    assert proc.stdout is not None
    for line in proc.stdout:  # the first episode done, the second one mid-way: SIGKILL
        if line.startswith("[1/2]"):
            break
    proc.kill()
    proc.wait(timeout=30)
    run = bh.only_run(tmp_path)
    deadline = time.monotonic() + 90
    while _run_containers(docker_client, run.name) and time.monotonic() < deadline:
        time.sleep(1)
    assert _run_containers(docker_client, run.name) == [], "the crash left a container"
    kept = [EpisodeResult.load(p) for p in bh.results(run)]
    assert [r.status for r in kept].count("completed") == 1, kept
    again = bh.run_bench(tmp_path, *args)
    assert again.returncode == 0, again.stderr
    assert "1 finished earlier (skipped)" in again.stderr
    final = [EpisodeResult.load(p) for p in bh.results(run)]
    assert sorted(r.key for r in final) == sorted(load_plan(run).keys)
    assert {r.status for r in final} == {"completed"}
