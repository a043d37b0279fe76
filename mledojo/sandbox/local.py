"""`LocalSandbox`: the runner as a host subprocess, for machines without Docker.

It is weaker than `DockerSandbox` and says so (see docs/sandbox.md). What it does:

* the same fork-server runner (`_runner.py`) with the host's Python: same protocol,
  same output capping, same timeout semantics, same fresh namespace per step;
* per-process limits with `setrlimit` (address space, file size, CPU seconds and, when it
  runs as `nobody`, process count) and a workspace size check;
* when started as root: a private network namespace (loopback only), a private mount
  namespace where the data folder is bind-mounted read-only and the workspace read-write,
  and the runner runs as `nobody`, so root-only files (the private answers) are unreadable;
* when not root: an unprivileged user+network namespace if the kernel allows it, else a
  loud warning that the network is reachable.

It cannot hide the host's file system: code finds the data and the workspace through
`MLEDOJO_DATA` and `MLEDOJO_WORKSPACE` (also set in Docker, to `/data` and `/workspace`).

This module also holds `RunnerSandbox`, the part shared with `DockerSandbox`: talking to
the runner, turning replies into results, and restarting a runner that died.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import logging
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mledojo.errors import SandboxError
from mledojo.sandbox import _runner, cleanup
from mledojo.sandbox.client import RunnerSandbox

log = logging.getLogger(__name__)

RUNNER_FILE = Path(_runner.__file__)
TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"
MARKER_ENV = "MLEDOJO_SANDBOX_ID"

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

# --------------------------------------------------------------------------- LocalSandbox


@dataclass(frozen=True)
class _Isolation:
    """What the child process does before running the runner (computed in the parent)."""

    as_root: bool
    uid: int
    gid: int
    data_src: str
    data_dst: str
    ws_src: str
    ws_dst: str
    exposures: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


class LocalSandbox(RunnerSandbox):
    """The runner in a host subprocess: same interface, weaker isolation (see module doc).

    As root, each episode gets a uid of its own (`EPISODE_UID_BASE` + a random offset,
    never a login account), so its processes can all be killed at once (`kill(-1)` as that
    uid), `RLIMIT_NPROC` counts only them, and no other episode can read its files.
    Without root none of that is possible: the sandbox refuses to start unless created
    with `unsafe=True` (the `unsafe-local` kind), in which case steps run as the caller.
    """

    def __init__(self, *, python: str | None = None, unsafe: bool = False) -> None:
        super().__init__()
        self._python = python or sys.executable
        self._unsafe = unsafe
        self.name = "unsafe-local" if unsafe else "local"
        self._proc: subprocess.Popen[bytes] | None = None
        self._marker = ""
        self._uid: int | None = None  # the episode's own uid (root only)
        self.network_isolated = False

    def prepare(self) -> None:
        if os.geteuid() != 0 and not self._unsafe:
            raise SandboxError(NEEDS_ROOT_MESSAGE)

    def _launch(self) -> None:
        ctl = self._control_dir
        if ctl is None or self._workspace is None or self._data_dir is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        self.prepare()
        self._marker = uuid.uuid4().hex
        first_launch = self._uid is None
        if os.geteuid() == 0 and self._uid is None:
            self._uid = _free_episode_uid()
        cleanup.write_owner(ctl, uid=self._uid)
        iso = self._plan(ctl)
        for sub in ("run", "home", "data", "workspace"):
            (ctl / sub).mkdir(exist_ok=True)
        ctl.chmod(0o755)
        if iso.as_root:
            for sub in ("run", "home"):
                os.chown(ctl / sub, iso.uid, iso.gid)
            if first_launch:  # a fresh workspace; after a restart it is already the uid's
                _chown_tree(self._workspace, iso.uid, iso.gid)
        resources = self._require_resources()
        extra = ["--as-mb", str(resources.memory_mb), "--peer", f"pid:{os.getpid()}"]
        extra += ["--parent-pid", str(os.getpid())]
        if iso.as_root:
            extra += ["--nproc", str(resources.pids), "--sweep"]
        args = self._runner_args(
            socket_path=str(self._socket_path),
            workspace=iso.ws_dst,
            data=iso.data_dst,
            tools_dir=str(TOOLS_DIR),
            extra=extra,
        )
        env = self._env(iso, ctl)
        logf = open(ctl / "runner.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                [self._python, str(RUNNER_FILE), *args],
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                preexec_fn=_preexec(iso),
                start_new_session=True,  # noqa: PLW1509
            )
        finally:
            logf.close()
        self.network_isolated = True
        if not iso.as_root and not _probe_userns():
            self.network_isolated = False

    def _plan(self, ctl: Path) -> _Isolation:
        if self._data_dir is None or self._workspace is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        data, ws = str(self._data_dir), str(self._workspace)
        if self._uid is None:
            return _Isolation(False, os.getuid(), os.getgid(), data, data, ws, ws, ())
        needed = {
            sys.base_prefix,
            sys.prefix,
            str(Path(self._python).resolve().parent),
            str(RUNNER_FILE.parent),
            str(TOOLS_DIR),
        }
        return _Isolation(
            True,
            self._uid,
            self._uid,
            data,
            str(ctl / "data"),
            ws,
            str(ctl / "workspace"),
            _exposures(needed, ctl),
        )

    def _env(self, iso: _Isolation, ctl: Path) -> dict[str, str]:
        resources = self._require_resources()
        threads = str(max(1, int(resources.cpus)))
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        return {
            **keep,
            "HOME": str(ctl / "home") if iso.as_root else os.environ.get("HOME", "/tmp"),
            "MLEDOJO_DATA": iso.data_dst,
            "MLEDOJO_WORKSPACE": iso.ws_dst,
            MARKER_ENV: self._marker,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": threads,
            # Idle OpenMP threads sleep instead of spinning: on a loaded or CPU-capped machine
            # spinning barriers made a 0.1 s gradient-boosting fit take minutes.
            "OMP_WAIT_POLICY": "PASSIVE",
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }

    def _teardown(self) -> None:
        if self._proc is not None:
            _kill_quietly(self._proc.pid)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("local runner %s did not exit after SIGKILL", self._proc.pid)
            self._proc = None
        if self._uid is not None:
            kill_uid(self._uid)
        elif self._marker:
            for pid in self.leftovers_pids():
                _kill_quietly(pid)

    def stop(self) -> None:
        uid, workspace = self._uid, self._workspace
        try:
            super().stop()
        finally:
            self._uid = None
        if uid is not None:
            survivors = [f"pid {p}" for p in pids_of_uid(uid)]
            give_back(workspace, os.getuid(), os.getgid(), survivors=survivors)

    def _runner_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _diagnostics(self) -> str:
        if self._control_dir is None:
            return ""
        try:
            return (self._control_dir / "runner.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def leftovers_pids(self) -> list[int]:
        """Host processes of this sandbox: of its uid, or carrying its marker (unsafe)."""
        if self._uid is not None:
            return pids_of_uid(self._uid)
        if not self._marker:
            return []
        needle = f"{MARKER_ENV}={self._marker}".encode()
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                environ = Path(f"/proc/{name}/environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0"):
                found.append(int(name))
        return found

    def leftovers(self) -> list[str]:
        """What is still running after stop (for the conformance suite's cleanup check)."""
        return [f"pid {p}" for p in self.leftovers_pids()]


NEEDS_ROOT_MESSAGE = (
    "LocalSandbox needs root to run each episode under a uid of its own (without it, agent "
    "code would run as you, read your files and outlive the episode). Start Docker "
    "(`sudo bash scripts/ensure_docker.sh`), run as root, or pass sandbox='unsafe-local' "
    "to accept that (never for graded or leaderboard runs)."
)
EPISODE_UID_BASE = 0x4D4C0000  # 1296826368: far above any login or container uid
EPISODE_UID_SPAN = 1 << 16


def _free_episode_uid() -> int:
    """A random uid of the episode range that no process uses now."""
    rng = random.SystemRandom()
    for _ in range(64):
        uid = EPISODE_UID_BASE + rng.randrange(EPISODE_UID_SPAN)
        if not pids_of_uid(uid):
            return uid
    raise SandboxError("no free episode uid found; run `mledojo cleanup`")


def pids_of_uid(uid: int) -> list[int]:
    """Live host processes whose real or effective uid is `uid` (zombies are dead)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", encoding="ascii", errors="replace") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        zombie = fields.get("State", "").split()[:1] == ["Z"]
        if not zombie and str(uid) in fields.get("Uid", "").split()[0:2]:
            found.append(int(name))
    return found


def kill_uid(uid: int) -> None:
    """Kill every process of `uid`: `kill(-1)` from a forked helper that becomes that uid.

    The kernel signals them all at once (a fork in flight fails), so nothing escapes by
    forking, clearing its environment or changing its process group. Needs root.
    """
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child only makes system calls, then exits
            code = 0
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            except OSError:
                code = 1
            os._exit(code)
        os.waitpid(pid, 0)
        if not pids_of_uid(uid):
            return
    log.warning("processes of uid %s survived three kill(-1) rounds", uid)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give `root` and everything beneath it to `uid:gid`, never following a symlink.

    The tree is agent-written. The walk goes by directory descriptors (`os.fwalk`), so a
    folder swapped for a symlink mid-walk is not followed out of the tree; callers still
    run it only when no process of the sandbox is left.
    """
    os.chown(root, uid, gid, follow_symlinks=False)
    for _, dirnames, filenames, dirfd in os.fwalk(root, follow_symlinks=False):
        for name in dirnames + filenames:
            try:
                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
            except OSError:
                pass


def give_back(workspace: Path | None, uid: int, gid: int, *, survivors: list[str]) -> None:
    """After `stop()`: return the workspace to the host user (which also clears setuid bits).

    Skipped, with a warning, while anything of the sandbox still runs: it could race the walk.
    """
    if workspace is None or not workspace.is_dir():
        return
    if survivors:
        log.warning("not re-owning %s: still running: %s", workspace, ", ".join(survivors))
        return
    _chown_tree(workspace, uid, gid)


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _blocked_ancestor(path: str) -> str | None:
    """The first folder on `path` that others may not traverse, if any."""
    current = "/"
    for part in Path(path).parts[1:]:
        current = os.path.join(current, part)
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return None
        if not mode & 0o001:
            return current
    return None


def _exposures(needed: set[str], ctl: Path) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Plan, for each untraversable folder, which needed paths to re-expose inside it.

    E.g. the host Python under `/root/.pyenv` (with `/root` mode 0700): a tmpfs covers
    `/root` in the runner's mount namespace, and only the Python prefix is bound back.
    """
    groups: dict[str, list[str]] = {}
    for path in sorted(needed):
        blocked = _blocked_ancestor(path)
        if blocked is not None:
            groups.setdefault(blocked, []).append(path)
    plan = []
    counter = 0
    for blocked, paths in groups.items():
        pairs = []
        for path in paths:
            stage = ctl / "expose" / str(counter)
            stage.mkdir(parents=True, exist_ok=True)
            counter += 1
            pairs.append((path, str(stage)))
        plan.append((blocked, tuple(pairs)))
    return tuple(plan)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(
    libc: ctypes.CDLL,
    src: str | None,
    dst: str,
    fstype: str | None,
    flags: int,
    data: str | None = None,
) -> None:
    rc = libc.mount(
        src.encode() if src else None,
        dst.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(rc, f"mount {src} -> {dst}")


def _loopback_up() -> None:
    """Bring `lo` up in the new network namespace (it starts down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b"\0" * 14))


def _isolate_root(iso: _Isolation) -> None:
    """In the child, as root: new mount+net namespaces, bind mounts, then become `nobody`."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    _mount(libc, iso.data_src, iso.data_dst, None, MS_BIND | MS_REC)
    _mount(libc, None, iso.data_dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    _mount(libc, iso.ws_src, iso.ws_dst, None, MS_BIND | MS_REC)
    for blocked, pairs in iso.exposures:
        for path, stage in pairs:
            _mount(libc, path, stage, None, MS_BIND | MS_REC)
        _mount(libc, "tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for path, stage in pairs:
            os.makedirs(path, exist_ok=True)
            _mount(libc, stage, path, None, MS_BIND | MS_REC)
    _loopback_up()
    os.setgroups([])
    os.setgid(iso.gid)
    os.setuid(iso.uid)


def _isolate_user() -> None:
    """In the child, unprivileged: a user+network namespace if the kernel allows it."""
    libc = _libc()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        try:
            _loopback_up()
        except OSError:
            pass


def _preexec(iso: _Isolation) -> Callable[[], None]:
    def run() -> None:
        if iso.as_root:
            _isolate_root(iso)
        else:
            _isolate_user()

    return run


def _probe_userns() -> bool:
    """Whether an unprivileged user+network namespace can be created here."""
    try:
        done = subprocess.run(
            ["unshare", "--user", "--net", "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    if done.returncode != 0:
        warnings.warn(
            "LocalSandbox cannot isolate the network on this machine (not root and no "
            "unprivileged user namespaces): agent code can reach the network.",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return True
