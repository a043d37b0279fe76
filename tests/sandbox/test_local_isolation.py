"""LocalSandbox's own guarantees: a uid per episode, refusal without root, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from mledojo.errors import SandboxError
from mledojo.sandbox import cleanup, make_sandbox
from mledojo.sandbox.conformance import CONFORMANCE_RESOURCES, make_context
from mledojo.sandbox.episode_uids import EPISODE_UID_BASE, pids_of_uid
from mledojo.sandbox.local import LocalSandbox

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="LocalSandbox needs root")


def _started(tmp: Path) -> tuple[LocalSandbox, Path]:
    ctx = make_context(tmp)
    sb = LocalSandbox()
    sb.start(
        data_dir=ctx.data_dir, workspace=ctx.workspace, resources=CONFORMANCE_RESOURCES, labels={}
    )
    return sb, ctx.workspace


@needs_root
@pytest.mark.timeout(60)
def test_episodes_have_their_own_uid_and_cannot_read_each_other(tmp_path: Path) -> None:
    a, ws_a = _started(tmp_path / "a")
    b, _ = _started(tmp_path / "b")
    try:
        ra = a.exec("import os\nopen('mine.txt', 'w').write('A')\nprint(os.getuid())", timeout_s=20)
        rb = b.exec("import os\nprint(os.getuid())", timeout_s=20)
        uid_a, uid_b = int(ra.stdout), int(rb.stdout)
        assert uid_a != uid_b and min(uid_a, uid_b) >= EPISODE_UID_BASE
        # b tries a's workspace by its host path (absent from b's root) and through the
        # root of a's processes in /proc (visible, but another uid's: ptrace rules deny it).
        r = b.exec(
            textwrap.dedent(
                f"""
                import os
                paths = [{str(ws_a / "mine.txt")!r}]
                for pid in filter(str.isdigit, os.listdir("/proc")):
                    if os.stat(f"/proc/{{pid}}").st_uid == {uid_a}:
                        paths.append(f"/proc/{{pid}}/root/workspace/mine.txt")
                for path in paths:
                    try:
                        print("READ", path, open(path).read())
                    except OSError as exc:
                        print("denied", path, type(exc).__name__)
                """
            ),
            timeout_s=20,
        )
        assert r.status == "ok" and "READ" not in r.stdout, r
        assert "FileNotFoundError" in r.stdout and "/root/workspace" in r.stdout, r
    finally:
        a.stop()
        b.stop()
    assert not pids_of_uid(uid_a) and not pids_of_uid(uid_b)
    assert os.stat(ws_a / "mine.txt").st_uid == 0  # given back to root at stop


@needs_root
@pytest.mark.timeout(60)
def test_a_process_that_clears_its_environment_dies_at_stop(tmp_path: Path) -> None:
    sb, _ = _started(tmp_path)
    try:
        r = sb.exec(
            textwrap.dedent(
                """
                import os, subprocess, sys
                sleeper = [sys.executable, '-c', 'import time; time.sleep(300)']
                subprocess.Popen(['env', '-i', *sleeper], start_new_session=True)
                print(os.getuid())
                """
            ),
            timeout_s=20,
        )
        uid = int(r.stdout)
    finally:
        sb.stop()
    assert not pids_of_uid(uid)


def test_local_is_refused_without_root_unless_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxError, match="unsafe-local"):
        make_sandbox("local")
    assert make_sandbox("unsafe-local").name == "unsafe-local"


def test_auto_never_degrades_to_unsafe_local(monkeypatch: pytest.MonkeyPatch) -> None:
    from mledojo.errors import DockerUnavailableError
    from mledojo.sandbox import engine

    def unavailable(timeout: int = 60) -> None:
        raise DockerUnavailableError("test")

    monkeypatch.setattr(engine, "docker_client", unavailable)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxError, match="unsafe-local"):
        make_sandbox("auto")


@needs_root
@pytest.mark.timeout(60)
def test_a_killed_host_leaves_no_runner_and_cleanup_removes_its_folder(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from mledojo.sandbox.conformance import CONFORMANCE_RESOURCES, make_context
        from mledojo.sandbox.local import LocalSandbox
        from pathlib import Path
        ctx = make_context(Path({str(tmp_path)!r}))
        sb = LocalSandbox()
        sb.start(data_dir=ctx.data_dir, workspace=ctx.workspace,
                 resources=CONFORMANCE_RESOURCES, labels={{}})
        print(sb._uid, sb._control_dir, flush=True)
        time.sleep(300)
        """
    )
    # A private temp root: other mledojo processes on the host reap dead owners' folders in /tmp.
    private_tmp = Path(tempfile.mkdtemp(prefix="mledojo-test-tmp-"))
    private_tmp.chmod(0o711)  # the episode uid must traverse to its control folder
    host = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(private_tmp)},
    )
    assert host.stdout is not None
    uid_text, control = host.stdout.readline().split()
    assert Path(control).parent == private_tmp
    uid = int(uid_text)
    assert pids_of_uid(uid)
    host.send_signal(signal.SIGKILL)
    host.wait()
    deadline = time.monotonic() + 15
    while pids_of_uid(uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pids_of_uid(uid), "the runner outlived its host"
    assert Path(control).exists()
    assert Path(control).name in cleanup.reap_control_dirs(private_tmp)
    assert not Path(control).exists()
    private_tmp.rmdir()


@needs_root
@pytest.mark.timeout(60)
def test_giving_the_workspace_back_follows_no_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("x")
    os.chown(outside / "victim", 4242, 4242)
    sb, ws = _started(tmp_path / "ep")
    try:
        r = sb.exec(f"import os\nos.symlink({str(outside)!r}, 'dir')", timeout_s=20)
        assert r.status == "ok", r
    finally:
        sb.stop()
    assert os.stat(outside / "victim").st_uid == 4242
    assert os.lstat(ws / "dir").st_uid == 0  # the link itself was given back


@needs_root
@pytest.mark.timeout(60)
def test_the_workspace_is_not_walked_while_a_process_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mledojo.sandbox import local

    sb, ws = _started(tmp_path)
    r = sb.exec(
        "import os, subprocess\nopen('mine', 'w')\n"
        "subprocess.Popen(['sleep', '300'], start_new_session=True)\nprint(os.getuid())",
        timeout_s=20,
    )
    uid = int(r.stdout)
    real_kill = local.kill_uid
    monkeypatch.setattr(local, "kill_uid", lambda uid: None)  # a kill that failed
    monkeypatch.setattr(sb, "_proc", None)  # keep the runner too: it sweeps on exit
    try:
        sb.stop()
        if sb.disk_quota == "filesystem":  # the volume is not copied out while one survives
            assert not (ws / "mine").exists()
        else:
            assert os.stat(ws / "mine").st_uid == uid  # not re-owned: a survivor could race it
    finally:
        real_kill(uid)
    deadline = time.monotonic() + 10  # the volume's last holder takes its unmount along
    while pids_of_uid(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pids_of_uid(uid)


@needs_root
def test_cleanup_ignores_a_control_folder_it_did_not_write(tmp_path: Path) -> None:
    import json

    fake = tmp_path / f"{cleanup.CONTROL_PREFIX}fake"
    fake.mkdir()
    owner = {**cleanup.owner_labels(), cleanup.LABEL_OWNER_PID: "999999999", "uid": 0}
    (fake / cleanup.OWNER_FILE).write_text(json.dumps(owner))
    os.chown(fake, 4242, 4242)  # made by an agent (any other uid), e.g. in a shared /tmp
    assert cleanup.reap_control_dirs(tmp_path) == []
    assert fake.exists()


@needs_root
@pytest.mark.timeout(90)
def test_episodes_started_from_threads_each_get_their_own_root(tmp_path: Path) -> None:
    """The MLE-Bot steps episodes from a thread pool: the launcher runs no Python code in
    the host between fork and exec, so concurrent starts from threads are safe."""
    from concurrent.futures import ThreadPoolExecutor

    def episode(i: int) -> str:
        sb, _ = _started(tmp_path / str(i))
        try:
            r = sb.exec(
                f"open('/workspace/me', 'w').write('{i}')\nimport os\nprint(os.listdir('/tmp'))",
                timeout_s=30,
            )
            return r.stdout
        finally:
            sb.stop()

    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(episode, range(4)))
    # a fresh /tmp each: nothing but the way to a Python installation that lives under /tmp
    # (bound at its own path, as in a clone under /tmp)
    python_dirs = sorted(
        {
            Path(p).relative_to("/tmp").parts[0]
            for p in (sys.prefix, sys.base_prefix)
            if Path(p).is_relative_to("/tmp")
        }
    )
    assert outputs == [f"{python_dirs}\n"] * 4
    assert [(tmp_path / str(i) / "workspace" / "me").read_text() for i in range(4)] == list("0123")


@needs_root
@pytest.mark.timeout(60)
def test_kill_uid_never_kills_a_uid_outside_the_episode_range() -> None:
    """`cleanup` kills the uid a control folder's owner.json names: one that is not an
    episode uid (a login account, a service) is refused, not swept with `kill(-1)`."""
    from mledojo.sandbox.episode_uids import kill_uid

    bystander = subprocess.Popen(["sleep", "60"], user=4242, group=4242, extra_groups=[])
    try:
        kill_uid(4242)
        time.sleep(0.5)
        assert bystander.poll() is None, "a process of a non-episode uid was killed"
    finally:
        bystander.kill()
        bystander.wait()


def _spawn_at_pid(pid: int) -> subprocess.Popen[bytes]:
    """A `sleep` that the kernel gives exactly `pid`, by setting the last pid it handed out
    (root only). Other forks on the host may take the pid first: try a few times."""
    for _ in range(50):
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
        proc = subprocess.Popen(["sleep", "60"])
        if proc.pid == pid:
            return proc
        proc.kill()
        proc.wait()
    pytest.fail(f"could not start a process at pid {pid}: the host forks too fast")


@needs_root
@pytest.mark.timeout(60)
def test_stop_never_signals_the_pid_of_a_runner_already_reaped(tmp_path: Path) -> None:
    """Once a poll has reaped a dead runner its pid is free (pid_max is often 32768) and may
    name another process, such as another episode's container: stop must not kill it."""
    sb, _ = _started(tmp_path)
    victim = None
    try:
        runner = sb._proc  # noqa: SLF001 - the race needs the runner's own process
        if runner is None:
            pytest.fail("the started sandbox has no runner process")
        runner.kill()
        runner.wait()  # reaped, as `_runner_alive` does when a start fails
        victim = _spawn_at_pid(runner.pid)
        sb.stop()
        assert victim.poll() is None, "stop killed the process that reused the runner's pid"
    finally:
        sb.stop()
        if victim is not None:
            victim.kill()
            victim.wait()
