"""Starting Ray for `--backend ray` is bounded and interruptible (issue 18).

Each test drives a real Ray in a fresh Python process: a local start (its processes, its
node address), and a start that can never finish because the address it waits for has no
Ray behind it (what a stale `/tmp/ray/ray_current_cluster`, a stale `RAY_ADDRESS` or a
host whose default IP is unreachable all look like to `ray.init`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

BACKEND = (
    "import sys, json\n"
    "from pathlib import Path\n"
    "from mledojo.bench.plan import BenchError\n"
    "from mledojo.bench.ray_executor import RayExecutor\n"
    "address = sys.argv[2] or None\n"
    "print('STARTING', flush=True)\n"
    "try:\n"
    "    backend = RayExecutor(Path(sys.argv[1]), 'r', address=address,"
    " start_timeout_s=float(sys.argv[3]))\n"
    "except BenchError as e:\n"
    "    print('ERROR', e, flush=True)\n"
    "    raise SystemExit(3)\n"
    "nodes = [n['NodeManagerAddress'] for n in backend.ray.nodes() if n['Alive']]\n"
    "print('NODES', json.dumps(nodes), backend.capacity().cpus, flush=True)\n"
    "import time; time.sleep(3)  # Ray outlives the start (its processes are not orphaned)\n"
    "answer = backend.ray.get(backend.ray.remote(lambda: 6 * 7).remote(), timeout=60)\n"
    "print('TASK', answer, flush=True)\n"
    "backend.close()\n"
)


def _dead_address() -> str:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return {**env, **extra}


def _start(
    tmp_path: Path, address: str, timeout_s: float, env: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", BACKEND, str(tmp_path), address, str(timeout_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen[str], timeout_s: float) -> tuple[int, str, float]:
    """(exit code, output, seconds to exit); kills the process group on a hang."""
    started = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the Ray start did not end within {timeout_s:g} s:\n{out[-3000:]}")
    return proc.returncode, out, time.monotonic() - started


def test_a_local_start_ignores_a_stale_cluster_and_uses_loopback(tmp_path: Path) -> None:
    """`RAY_ADDRESS` naming a dead cluster (like the stale `ray_current_cluster` file this
    machine had) made `ray.init()` wait for it for minutes; a local start starts its own."""
    env = _env(RAY_ADDRESS=_dead_address())
    code, out, seconds = _finish(_start(tmp_path, "", 60, env), timeout_s=120)
    assert code == 0, out[-3000:]
    nodes_line = next(line for line in out.splitlines() if line.startswith("NODES"))
    assert '["127.0.0.1"]' in nodes_line, out[-3000:]
    assert "TASK 42" in out
    assert seconds < 60


def test_an_unreachable_cluster_times_out_with_the_fix_in_the_message(tmp_path: Path) -> None:
    address = _dead_address()
    code, out, seconds = _finish(_start(tmp_path, address, 5, _env()), timeout_s=60)
    assert code == 3, out[-3000:]
    assert f"no cluster answered at {address} within 5 s" in out
    assert f"ray status --address {address}" in out
    assert seconds < 30  # the stuck start does not keep the process alive


def test_sigterm_while_ray_starts_ends_the_process(tmp_path: Path) -> None:
    """Ray's own SIGTERM handler (installed by `ray.init` in the main thread) never ran
    while `ray.init` blocked: the process ignored SIGTERM until Ray gave up."""
    proc = _start(tmp_path, _dead_address(), 600, _env())
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "STARTING"
    time.sleep(4)  # well inside ray.init, waiting for the cluster
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    code, out, seconds = _finish(proc, timeout_s=30)
    assert code == -signal.SIGTERM, out[-3000:]
    assert seconds < 5
