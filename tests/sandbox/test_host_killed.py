"""A host killed with SIGKILL leaves nothing running: the runner notices that the host's
lease connection closed, kills the running step and exits within seconds, without
`mledojo cleanup` (docs/sandbox.md, "Threat model"). Real host processes, real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from mledojo.sandbox import cleanup, quota

pytestmark = pytest.mark.timeout(120)

GONE_WITHIN_S = 10.0

HOST = """
import json, os, socket, sys
from pathlib import Path
from mledojo.spec import Resources
from mledojo.sandbox import cleanup, make_sandbox

kind, tmp, run_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
# Other test sessions on this machine reap the sandboxes of dead hosts when they start one
# (`cleanup.reap_orphans`, `reap_control_dirs`): name the test process (alive) as the
# owner, so that only the lease can stop ours.
_test_pid = os.getppid()
cleanup.owner_labels = lambda: {
    cleanup.LABEL_OWNER_HOST: socket.gethostname(),
    cleanup.LABEL_OWNER_PID: str(_test_pid),
    cleanup.LABEL_OWNER_START: cleanup.process_start_ticks(_test_pid),
}
(tmp / "data").mkdir(exist_ok=True)
sb = make_sandbox(kind)
sb.start(data_dir=tmp / "data", workspace=tmp / "ws", resources=Resources(memory_mb=512),
         labels={"mledojo.run": run_id})
(tmp / "host.json").write_text(json.dumps({
    "container": getattr(sb, "container_name", None),
    "control_dir": str(sb._control_dir),
    "host": os.getpid(),
}))
sb.exec(
    "import os\\n"
    "open('started.json', 'w').write(__import__('json').dumps("
    "{'step': os.getpid(), 'runner': os.getppid()}))\\n"
    "while True:\\n    pass\\n",
    timeout_s=600,
)
"""


def _kill_host_mid_step(kind: str, tmp_path: Path, run_id: str) -> tuple[dict[str, object], float]:
    """Start a host that starts a sandbox and a busy-loop step; SIGKILL the host once the
    step runs. Returns what the host and the step wrote, and when the host died."""
    host = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOST), kind, str(tmp_path), run_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    started = tmp_path / "ws" / "started.json"
    deadline = time.monotonic() + 90
    while not started.exists() or not started.read_text():
        if host.poll() is not None or time.monotonic() > deadline:
            host.kill()
            _, err = host.communicate()
            pytest.fail(f"the host never started its step: {err.decode()[-2000:]}")
        time.sleep(0.1)
    info = {**json.loads((tmp_path / "host.json").read_text()), **json.loads(started.read_text())}
    host.send_signal(signal.SIGKILL)
    host.wait()
    return info, time.monotonic()


def _running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.docker
def test_docker_container_stops_when_its_host_is_killed(runtime_image: str, tmp_path: Path) -> None:
    import docker
    import docker.errors

    run_id = f"host-killed-{uuid.uuid4().hex[:8]}"
    client = docker.from_env()
    try:
        info, killed_at = _kill_host_mid_step("docker", tmp_path, run_id)
        container = client.containers.get(str(info["container"]))
        while time.monotonic() - killed_at < GONE_WITHIN_S:
            try:
                container.reload()
            except docker.errors.NotFound:
                break
            if container.status not in ("created", "running"):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the container still runs {GONE_WITHIN_S:g} s after its host died")
    finally:
        cleanup.remove_labelled(run_id)
    _assert_cleanup_releases_the_volume(info, tmp_path)


def _assert_cleanup_releases_the_volume(info: dict[str, object], tmp_path: Path) -> None:
    """What the killed host left mounted (its disk volume, when quotas are on) is released by
    `mledojo cleanup`'s reaping: CI runs used to leak ~20 mounts each. The host named the
    test process as owner (see HOST); give the record back to the dead host first."""
    control_dir = Path(str(info["control_dir"]))
    owner = json.loads((control_dir / cleanup.OWNER_FILE).read_text())
    owner[cleanup.LABEL_OWNER_PID] = str(info["host"])
    (control_dir / cleanup.OWNER_FILE).write_text(json.dumps(owner))
    assert cleanup.reap_control_dirs(control_dir.parent) == [control_dir.name]
    assert quota.still_mounted(tmp_path) == []
    assert not control_dir.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="LocalSandbox needs root")
def test_local_runner_and_step_end_when_their_host_is_killed(tmp_path: Path) -> None:
    info, killed_at = _kill_host_mid_step("local", tmp_path, f"host-killed-{uuid.uuid4().hex[:8]}")
    pids = {"runner": int(str(info["runner"])), "step": int(str(info["step"]))}
    while time.monotonic() - killed_at < GONE_WITHIN_S:
        if not any(_running(pid) for pid in pids.values()):
            _assert_cleanup_releases_the_volume(info, tmp_path)
            return
        time.sleep(0.2)
    alive = {name: pid for name, pid in pids.items() if _running(pid)}
    for pid in alive.values():  # do not leave a busy loop behind a failed test
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    pytest.fail(f"still running {GONE_WITHIN_S:g} s after the host died: {alive}")


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A runner started by hand (no sandbox around it), answering this process only."""
    from mledojo.sandbox.hostfiles import RUNNER_FILE

    sock = tmp_path / "runner.sock"
    (tmp_path / "ws").mkdir()
    args = ["serve", "--socket", str(sock), "--workspace", str(tmp_path / "ws")]
    args += ["--data", str(tmp_path), "--preload", "", "--peer", f"pid:{os.getpid()}", *extra]
    proc = subprocess.Popen([sys.executable, str(RUNNER_FILE), *args])
    deadline = time.monotonic() + 20
    while not sock.exists():
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the runner never listened")
        time.sleep(0.02)
    return proc, sock


def test_a_runner_without_a_lease_exits(tmp_path: Path) -> None:
    """A host killed between launching the runner and taking its lease leaves nothing."""
    proc, _ = _serve(tmp_path, "--lease-timeout", "1")
    try:
        assert proc.wait(timeout=GONE_WITHIN_S) == 0
    finally:
        proc.kill()


def test_closing_the_lease_stops_an_idle_runner_and_a_second_lease_is_refused(
    tmp_path: Path,
) -> None:
    from mledojo.sandbox import _runner

    proc, sock = _serve(tmp_path, "--lease-timeout", "30")
    try:
        lease = _runner.take_lease(str(sock), timeout_s=10, expect=None)
        with pytest.raises(_runner.RunnerLostError, match="already held"):
            _runner.take_lease(str(sock), timeout_s=10, expect=None)
        reply = _runner.request(str(sock), {"op": "ping"}, timeout_s=10, max_reply=1 << 16)
        assert reply["ok"] is True  # the lease does not block other requests
        lease.close()
        assert proc.wait(timeout=GONE_WITHIN_S) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param(
            "local",
            marks=pytest.mark.skipif(os.geteuid() != 0, reason="LocalSandbox needs root"),
        ),
    ],
)
def test_a_restarted_runner_holds_a_new_lease(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from mledojo.sandbox import make_sandbox
    from mledojo.spec import Resources

    if kind == "docker":
        request.getfixturevalue("runtime_image")
    (tmp_path / "data").mkdir()
    sb = make_sandbox(kind)
    sb.start(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        resources=Resources(memory_mb=512),
        labels={"mledojo.run": f"lease-{uuid.uuid4().hex[:8]}"},
    )
    try:
        assert sb.ping()["leased"] is True  # type: ignore[attr-defined]
        r = sb.exec("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", timeout_s=20)
        assert r.status == "sandbox_error" and sb.restarts == 1, r
        assert sb.ping()["leased"] is True  # type: ignore[attr-defined]
    finally:
        sb.stop()
