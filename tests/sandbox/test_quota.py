"""The per-episode disk quota volume: the bounded copy-out, the policy, and `mledojo cleanup`
for a host killed with SIGKILL. The attacks themselves are hostile checks
(`disk_held_open`, `inodes_past_path_max`, `deep_tree_outlives`, `neighbour_writes`),
run on both backends by tests/sandbox/test_conformance.py."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mledojo.errors import SandboxError
from mledojo.sandbox import cleanup, quota
from mledojo.sandbox.conformance import CONFORMANCE_RESOURCES, make_context
from mledojo.spec import Resources

needs_quota = pytest.mark.skipif(
    quota.unavailable_reason() is not None, reason=str(quota.unavailable_reason())
)
SMALL = Resources(disk_mb=16, max_files=200)


def _leftovers(root: Path) -> list[str]:
    """Mounts, loop devices and quota folders of anything under `root`."""
    found = [str(p) for p in root.rglob(f"{quota.FOLDER_PREFIX}*")]
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        found += [line.split(" ")[4] for line in fh if f" {root}" in line]
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            text = backing.read_text().strip()
        except OSError:
            continue
        if text.startswith(str(root)):
            found.append(text)
    return found


def _wait_gone(root: Path, seconds: float = 10) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _leftovers(root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[quota.DiskQuota]:
    ws, ctl = tmp_path / "ws", tmp_path / "ctl"
    ws.mkdir()
    ctl.mkdir()
    q = quota.DiskQuota.create(workspace=ws, control_dir=ctl, resources=SMALL)
    try:
        yield q
    finally:
        q.release(copy_out=False)


@needs_quota
def test_the_volume_is_sized_and_mounted_nosuid_nodev(volume: quota.DiskQuota) -> None:
    vfs = os.statvfs(volume.workspace)
    assert (
        SMALL.disk_mb * quota.MIB <= vfs.f_bavail * vfs.f_frsize <= 1.1 * SMALL.disk_mb * quota.MIB
    )
    assert SMALL.max_files <= vfs.f_favail <= SMALL.max_files + 64
    assert vfs.f_flag & os.ST_NOSUID and vfs.f_flag & os.ST_NODEV
    assert os.stat(volume.control_dir / "run").st_dev == os.stat(volume.workspace).st_dev
    folder = Path(volume.record.folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == 0
    assert stat.S_IMODE(os.stat(volume.record.image).st_mode) == 0o600


@needs_quota
def test_copy_out_keeps_files_and_links_but_never_follows_and_stops_deep(
    volume: quota.DiskQuota, tmp_path: Path
) -> None:
    ws = volume.workspace  # the volume, as the agent sees it
    (ws / "model.bin").write_bytes(b"m" * 5000)
    (ws / "sub").mkdir()
    (ws / "sub" / "notes.txt").write_text("kept")
    (ws / "suid").write_text("x")
    os.chmod(ws / "suid", 0o6755)
    with open(ws / "sparse.bin", "wb") as fh:
        fh.truncate(8 * quota.MIB)
        fh.write(b"head")
    os.symlink("/etc/passwd", ws / "link")
    os.mkfifo(ws / "fifo")
    fd = os.open(ws, os.O_RDONLY)
    try:  # a chain of 200-byte names past MAX_COPY_PATH, with data at the bottom
        for _ in range(20):
            os.mkdir("d" * 200, dir_fd=fd)
            nxt = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        with open(os.open("bottom.bin", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd), "wb") as fh:
            fh.write(b"z" * 1000)
    finally:
        os.close(fd)
    report = volume.release()
    assert not os.path.ismount(ws)
    assert (ws / "model.bin").read_bytes() == b"m" * 5000
    assert (ws / "sub" / "notes.txt").read_text() == "kept"
    assert stat.S_IMODE(os.stat(ws / "suid").st_mode) == 0o755
    assert os.readlink(ws / "link") == "/etc/passwd"  # the link itself, not the file
    assert not (ws / "fifo").exists()
    sparse = os.stat(ws / "sparse.bin")
    assert sparse.st_size == 8 * quota.MIB and sparse.st_blocks * 512 < quota.MIB
    assert (ws / "sparse.bin").read_bytes()[:5] == b"head\0"
    assert report.special == 1 and report.too_deep == 1 and report.symlinks == 1
    assert not list(ws.rglob("bottom.bin"))
    assert _wait_gone(tmp_path) == []


@needs_quota
def test_what_the_workspace_held_before_is_copied_in_and_replaced(tmp_path: Path) -> None:
    ws, ctl = tmp_path / "ws", tmp_path / "ctl"
    ws.mkdir()
    ctl.mkdir()
    (ws / "old.txt").write_text("before")
    (ws / "gone.txt").write_text("deleted in the episode")
    q = quota.DiskQuota.create(workspace=ws, control_dir=ctl, resources=SMALL)
    assert os.path.ismount(ws) and (ws / "old.txt").read_text() == "before"
    (ws / "old.txt").write_text("after")
    (ws / "gone.txt").unlink()
    q.release()
    assert sorted(p.name for p in ws.iterdir()) == ["old.txt"]
    assert (ws / "old.txt").read_text() == "after"


@needs_quota
def test_a_workspace_larger_than_the_quota_is_refused_and_left_alone(tmp_path: Path) -> None:
    ws, ctl = tmp_path / "ws", tmp_path / "ctl"
    ws.mkdir()
    ctl.mkdir()
    (ws / "big.bin").write_bytes(b"x" * (2 * SMALL.disk_mb * quota.MIB))
    with pytest.raises(SandboxError, match="already holds more than"):
        quota.DiskQuota.create(workspace=ws, control_dir=ctl, resources=SMALL)
    assert not os.path.ismount(ws) and (ws / "big.bin").stat().st_size > 0
    assert _wait_gone(tmp_path) == []


def test_the_policy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(quota.POLICY_ENV, "Require")
    assert quota.policy_from_env() == "require"
    monkeypatch.setenv(quota.POLICY_ENV, "sometimes")
    with pytest.raises(SandboxError, match="MLEDOJO_DISK_QUOTA"):
        quota.policy_from_env()


def test_without_root_auto_warns_and_require_refuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    kwargs = {"workspace": tmp_path, "control_dir": tmp_path, "resources": SMALL}
    with pytest.warns(RuntimeWarning, match="walk"):
        assert quota.make_quota(**kwargs, policy="auto") is None  # type: ignore[arg-type]
    with pytest.raises(SandboxError, match="not running as root"):
        quota.make_quota(**kwargs, policy="require")  # type: ignore[arg-type]
    assert quota.make_quota(**kwargs, policy="off") is None  # type: ignore[arg-type]


@needs_quota
@pytest.mark.timeout(60)
def test_the_sandbox_says_which_quota_was_in_force(tmp_path: Path) -> None:
    from mledojo.sandbox.local import LocalSandbox

    for policy, kind in (("auto", "filesystem"), ("off", "walk")):
        ctx = make_context(tmp_path / policy)
        sb = LocalSandbox()
        sb.quota_policy = policy  # type: ignore[assignment]
        sb.start(
            data_dir=ctx.data_dir,
            workspace=ctx.workspace,
            resources=CONFORMANCE_RESOURCES,
            labels={},
        )
        try:
            assert sb.disk_quota == kind
            assert os.path.ismount(ctx.workspace) == (kind == "filesystem")
        finally:
            sb.stop()
    assert _wait_gone(tmp_path) == []


KILLED_HOST = """
import sys, time
from pathlib import Path
from mledojo.sandbox.conformance import CONFORMANCE_RESOURCES, make_context
ctx = make_context(Path({tmp!r}))
if {docker!r}:
    from mledojo.sandbox.docker import DockerSandbox
    sb = DockerSandbox(image={image!r})
else:
    from mledojo.sandbox.local import LocalSandbox
    sb = LocalSandbox()
sb.start(data_dir=ctx.data_dir, workspace=ctx.workspace, resources=CONFORMANCE_RESOURCES,
         labels={{"mledojo.run": "quota-killed-host"}})
r = sb.exec("open('mine.txt', 'w').write('x')", timeout_s=20)
print(sb.disk_quota, r.status, sb._control_dir, flush=True)
time.sleep(300)
"""


def _kill_a_host(tmp_path: Path, *, docker: bool, image: str = "") -> tuple[Path, Path]:
    """A host that started an episode and was SIGKILLed; its private temp root and folder."""
    private_tmp = Path(tempfile.mkdtemp(prefix="mledojo-test-tmp-"))
    private_tmp.chmod(0o711)  # a LocalSandbox's uid must traverse to its control folder
    episode = tmp_path / "episode"
    script = KILLED_HOST.format(tmp=str(episode), docker=docker, image=image)
    host = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(private_tmp)},
    )
    assert host.stdout is not None
    kind, status, control = host.stdout.readline().split()
    assert (kind, status) == ("filesystem", "ok")
    assert os.path.ismount(episode / "workspace")
    host.send_signal(signal.SIGKILL)
    host.wait()
    assert Path(control).parent == private_tmp
    return private_tmp, episode


@needs_quota
@pytest.mark.timeout(90)
def test_cleanup_releases_the_volume_of_a_killed_local_host(tmp_path: Path) -> None:
    private_tmp, episode = _kill_a_host(tmp_path, docker=False)
    time.sleep(1.5)  # the runner notices its host is gone and ends its uid
    assert _leftovers(episode)  # mounts, loop device and image are still there
    assert len(cleanup.reap_control_dirs(private_tmp)) == 1
    assert _wait_gone(episode) == []
    assert not os.path.ismount(episode / "workspace")
    private_tmp.rmdir()


@needs_quota
@pytest.mark.timeout(90)
def test_cleanup_releases_a_killed_hosts_volume_after_its_folder_moved(tmp_path: Path) -> None:
    """pytest renames an old temp root before removing it: the record's paths then point
    nowhere. The control folder's own binds still name the volume (this leaked ~20 mounts
    per CI run, and the records were deleted with the folder)."""
    private_tmp, episode = _kill_a_host(tmp_path, docker=False)
    time.sleep(1.5)
    moved = episode.rename(tmp_path / "moved")
    assert len(cleanup.reap_control_dirs(private_tmp)) == 1
    assert _wait_gone(moved) == []
    assert list(private_tmp.iterdir()) == []
    private_tmp.rmdir()


@needs_quota
@pytest.mark.timeout(90)
def test_cleanup_releases_a_volume_whose_folders_were_deleted(tmp_path: Path) -> None:
    """Episode folder and control folder removed under a live mount (no record is left):
    `mledojo cleanup` still finds the volume by its deleted image and releases it."""
    private_tmp, episode = _kill_a_host(tmp_path, docker=False)
    time.sleep(1.5)
    shutil.rmtree(episode, ignore_errors=True)  # what it can: not the mount points
    shutil.rmtree(private_tmp, ignore_errors=True)
    assert _leftovers(tmp_path)  # the image and records are gone, the mounts are not
    assert cleanup.reap_control_dirs(private_tmp) == []  # no record leads to the volume
    assert len(cleanup.reap_volumes()) == 1
    assert _wait_gone(tmp_path) == []
    shutil.rmtree(private_tmp, ignore_errors=True)


@needs_quota
@pytest.mark.docker
@pytest.mark.timeout(120)
def test_mledojo_cleanup_releases_the_volume_of_a_killed_docker_host(
    tmp_path: Path, runtime_image: str
) -> None:
    private_tmp, episode = _kill_a_host(tmp_path, docker=True, image=runtime_image)
    assert _leftovers(episode)
    done = subprocess.run(
        [sys.executable, "-m", "mledojo.cli", "cleanup", "--run", "quota-killed-host"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TMPDIR": str(private_tmp)},
    )
    # Another test session's start() may have reaped the orphan container first.
    assert done.returncode == 0 and "stale control folder" in done.stdout, done
    assert cleanup.find_labelled("quota-killed-host") == []
    assert _wait_gone(episode) == []
    private_tmp.rmdir()


@needs_quota
@pytest.mark.timeout(90)
def test_a_full_volume_does_not_stop_the_runner_from_restarting(tmp_path: Path) -> None:
    """The socket folder shares the volume: a step that used every inode and then killed
    the runner must still get a restart (a fault the agent causes is never infra_error)."""
    from mledojo.sandbox.local import LocalSandbox

    ctx = make_context(tmp_path, CONFORMANCE_RESOURCES.model_copy(update={"max_files": 1000}))
    sb = LocalSandbox()
    sb.start(data_dir=ctx.data_dir, workspace=ctx.workspace, resources=ctx.resources, labels={})
    try:
        fill = (
            "import os\nos.mkdir('f')\ntry:\n    for i in range(100_000):\n"
            "        open(f'f/{i}', 'w').close()\nexcept OSError as exc:\n    print(exc)\n"
        )
        sb.exec(fill, timeout_s=60)
        assert os.statvfs(ctx.workspace).f_favail == 0  # not one inode left
        r = sb.exec("import os\nos.kill(os.getppid(), 9)", timeout_s=30)
        assert r.error_type == "SandboxRestarted", r
        r = sb.exec("print('alive')", timeout_s=30)
        assert r.stdout == "alive\n", r
    finally:
        sb.stop()
