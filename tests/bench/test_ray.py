"""The Ray backend on a real loopback cluster: a head and a worker node from `ray start`.

A small bench runs through them; the worker node is killed (SIGKILL to its whole process
group: raylet and the Ray worker playing an episode) while it plays an episode, and the
bench still finishes every episode, the killed one re-run as a second attempt, with no
container left behind.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mledojo.artifacts import EpisodeResult
from mledojo.bench.plan import load_plan
from mledojo.sandbox import cleanup, quota

pytest.importorskip("ray")
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("ray")]
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _node(tmp: Path, name: str, *args: str) -> subprocess.Popen[str]:
    """`ray start ... --block` in a session of its own (so its whole group can be killed)."""
    cmd = [
        RAY,
        "start",
        "--block",
        "--num-cpus",
        "1",
        "--memory",
        str(3 * 2**30),
        "--object-store-memory",
        str(100 * 2**20),
        "--node-ip-address",
        "127.0.0.1",
        "--dashboard-agent-listen-port",
        str(_free_port()),
        "--metrics-export-port",
        str(_free_port()),
        "--runtime-env-agent-port",
        str(_free_port()),
        *args,
    ]
    log = (tmp / f"{name}.log").open("w")
    return subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _kill_group(proc: subprocess.Popen[str], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _wait_nodes(address: str, n: int, timeout: float = 90) -> None:
    code = (
        "import ray,sys;ray.init(address=sys.argv[1],log_to_driver=False,logging_level='ERROR');"
        "print(sum(1 for x in ray.nodes() if x['Alive']))"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            [sys.executable, "-c", code, address], capture_output=True, text=True, timeout=60
        )
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    raise AssertionError(f"the Ray cluster at {address} did not get {n} nodes")


@pytest.fixture
def cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    # Newer Ray starts clusters with token authentication: the nodes, the test and the bench
    # (all inheriting this environment) share one token, as a real cluster's clients would.
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _node(tmp_path, "head", "--head", "--port", str(port), "--include-dashboard=false")
    worker: subprocess.Popen[str] | None = None
    try:
        _wait_nodes(address, 1)
        worker = _node(tmp_path, "worker", "--address", address)
        _wait_nodes(address, 2)
        yield address, worker
    finally:
        for proc in (worker, head):
            if proc is not None:
                _kill_group(proc, signal.SIGTERM)
        time.sleep(3)
        for proc in (worker, head):
            if proc is not None:
                _kill_group(proc, signal.SIGKILL)
                proc.wait(timeout=30)


def test_a_bench_on_a_loopback_ray_cluster_survives_a_killed_worker_node(
    tmp_path: Path, cluster: tuple[str, subprocess.Popen[str]], docker_client: Any, bh: Any
) -> None:
    address, worker = cluster
    runs = tmp_path / "runs"
    args = [
        "--agents",
        bh.slow_agent,
        "--competitions",
        "playground-series-s3e12,titanic",
        "--seeds",
        "2",
        "--workers",
        "2",
        "--backend",
        "ray",
        "--address",
        address,
        *bh.small,
    ]
    proc = bh.start_bench(runs, *args)
    assert proc.stdout is not None
    seen: list[str] = []
    starts = 0
    for line in proc.stdout:  # two episodes running (one per node): kill the worker node
        seen.append(line)
        starts += line.startswith("start ")
        if starts == 2:
            break
    # kill only once both episodes have their folders: a node killed while its episode is
    # still being scheduled leaves nothing to set aside, and the test would prove nothing
    deadline = time.monotonic() + 180
    while len(list(runs.glob("*/*/*/seed-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    _kill_group(worker, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=540)
    output = "".join(seen) + rest
    assert proc.returncode == 0, output
    run = bh.only_run(runs)
    plan = load_plan(run)
    final = [EpisodeResult.load(p) for p in bh.results(run)]
    assert sorted(r.key for r in final) == sorted(plan.keys), output
    assert all(r.status == "completed" for r in final), output
    attempts = list(run.glob("*/*/*.attempt-*"))
    assert attempts, "the killed node's episode was not re-run as a new attempt:\n" + output
    left = cleanup.list_labelled(docker_client, [f"mledojo.run={run.name}"])
    assert left == [], left
    assert quota.still_mounted(tmp_path) == []  # the killed node's disk volume was released
