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
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mledojo.competition import Resources
from mledojo.errors import SandboxError, SandboxFileError
from mledojo.sandbox import _runner, cleanup
from mledojo.sandbox.base import ExecResult, Sandbox, ToolResult

log = logging.getLogger(__name__)

RUNNER_FILE = Path(_runner.__file__)
TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"
SOCKET_NAME = "runner.sock"
REPLY_GRACE_S = 20.0
READ_TIMEOUT_S = 30.0
START_TIMEOUT_S = 60.0
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

RESTARTED_MESSAGE = (
    "The sandbox runner died during this step (did the code kill it, or exhaust memory?). "
    "It was restarted: files in the workspace are kept, running processes and this step's "
    "output are lost."
)


class RunnerSandbox(Sandbox):
    """A sandbox whose steps go to a `_runner.py` fork server over a unix socket.

    Subclasses say how the runner is launched and torn down; this class owns the protocol,
    the conversion to `ExecResult` / `ToolResult`, and the restart of a dead runner.
    """

    def __init__(self) -> None:
        self._resources: Resources | None = None
        self._data_dir: Path | None = None
        self._workspace: Path | None = None
        self._labels: dict[str, str] = {}
        self._control_dir: Path | None = None
        self._socket_id: tuple[int, int] | None = None  # see `_runner.request(expect=...)`
        self.restarts = 0

    # -- lifecycle hooks for subclasses

    @abstractmethod
    def _launch(self) -> None:
        """Start the runner (container or process); `_socket_path` must appear."""

    @abstractmethod
    def _teardown(self) -> None:
        """Stop the runner and everything it started; idempotent."""

    @abstractmethod
    def _runner_alive(self) -> bool:
        """Whether the runner process (or its container) still runs."""

    @abstractmethod
    def _diagnostics(self) -> str:
        """Recent runner logs, for error messages."""

    # -- the public interface

    @property
    def workspace_host_path(self) -> Path:
        if self._workspace is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        return self._workspace

    @property
    def started(self) -> bool:
        """Whether start() succeeded and stop() has not been called since."""
        return self._control_dir is not None

    def start(
        self, *, data_dir: Path, workspace: Path, resources: Resources, labels: dict[str, str]
    ) -> None:
        if self.started:
            raise SandboxError("The sandbox is already started; call stop() before start().")
        data_dir, workspace = Path(data_dir).resolve(), Path(workspace).resolve()
        if not data_dir.is_dir():
            raise SandboxError(f"The data folder {data_dir} does not exist; prepare the data.")
        workspace.mkdir(parents=True, exist_ok=True)
        self._data_dir, self._workspace, self._resources = data_dir, workspace, resources
        self._labels = dict(labels)
        cleanup.reap_control_dirs()
        self._control_dir = Path(tempfile.mkdtemp(prefix=cleanup.CONTROL_PREFIX))
        try:
            self._launch()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            self._teardown()
        finally:
            if self._control_dir is not None:
                shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None

    def exec(self, code: str, *, timeout_s: float) -> ExecResult:
        resources = self._require_resources()
        req = {
            "op": "exec",
            "code": code,
            "timeout_s": timeout_s,
            "output_bytes": resources.output_bytes,
        }
        started = time.monotonic()
        try:
            reply = self._request(req, timeout_s)
        except _runner.RunnerLostError as exc:
            detail = self._recover(exc)
            return ExecResult.sandbox_error(
                "SandboxRestarted",
                RESTARTED_MESSAGE,
                detail=detail,
                duration_s=time.monotonic() - started,
            )
        return _exec_result(reply)

    def call_tool(self, name: str, args: dict[str, Any], *, timeout_s: float) -> ToolResult:
        resources = self._require_resources()
        req = {
            "op": "tool",
            "name": name,
            "args": args,
            "timeout_s": timeout_s,
            "output_bytes": resources.output_bytes,
        }
        started = time.monotonic()
        try:
            reply = self._request(req, timeout_s)
        except _runner.RunnerLostError as exc:
            self._recover(exc)
            return ToolResult(
                ok=False, error=RESTARTED_MESSAGE, duration_s=time.monotonic() - started
            )
        return ToolResult(
            ok=bool(reply.get("ok")),
            output=reply.get("output"),
            error=reply.get("error"),
            duration_s=float(reply.get("duration_s", time.monotonic() - started)),
        )

    def read_file(self, path: str, *, max_bytes: int) -> bytes:
        path = workspace_relative(path)  # the runner checks it (one place for the rules)
        req = {"op": "read", "path": path, "max_bytes": max_bytes}
        try:
            reply = self._request(req, READ_TIMEOUT_S)
        except _runner.RunnerLostError as exc:
            self._recover(exc)
            raise SandboxError(f"the sandbox died while reading `{_shown(path)}`") from exc
        if not reply.get("ok"):
            error = str(reply.get("error") or "refused")[:500]
            raise SandboxFileError(f"`{_shown(path)}`: {error}")
        payload = reply.get("payload")
        if not isinstance(payload, bytes) or len(payload) > max_bytes:
            raise SandboxError("the runner sent an invalid reply to a read")
        return payload

    def ping(self) -> dict[str, Any]:
        """Ask the runner whether it is alive (and which imports are still warming up)."""
        return self._request({"op": "ping"}, 5.0)

    # -- internals

    @property
    def _socket_path(self) -> Path:
        if self._control_dir is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        return self._control_dir / "run" / SOCKET_NAME

    def _require_resources(self) -> Resources:
        if self._resources is None or not self.started:
            raise SandboxError("The sandbox is not started; call start() first.")
        return self._resources

    def _request(self, req: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        resources = self._require_resources()
        max_reply = 8 * resources.output_bytes + _runner.MAX_TOOL_OUTPUT_BYTES + (1 << 20)
        return _runner.request(
            str(self._socket_path),
            req,
            timeout_s=timeout_s + REPLY_GRACE_S,
            max_reply=max_reply,
            expect=self._socket_id,
        )

    def _wait_ready(self) -> None:
        """Poll until the runner answers a ping (then remember its socket), or fail."""
        self._socket_id = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._socket_path.exists():
                try:
                    identity = _runner.socket_identity(str(self._socket_path))
                    protocol = self.ping().get("protocol")
                    self._socket_id = identity
                    if protocol != _runner.PROTOCOL_VERSION:
                        raise SandboxError(
                            f"The sandbox runner speaks protocol {protocol}, this library "
                            f"{_runner.PROTOCOL_VERSION}: rebuild the image "
                            "(`mledojo image build`)."
                        )
                    return
                except _runner.RunnerLostError:
                    pass
            if not self._runner_alive():
                raise SandboxError(f"The sandbox runner exited at start:\n{self._diagnostics()}")
            time.sleep(0.005)
        raise SandboxError(
            f"The sandbox runner did not answer within {START_TIMEOUT_S:.0f} s:\n"
            f"{self._diagnostics()}"
        )

    def _recover(self, exc: Exception) -> str:
        """The runner is lost: tear it down and launch a fresh one on the same workspace."""
        detail = f"runner lost: {exc}\n{self._diagnostics()}"
        log.warning("%s: %s; restarting the sandbox", self.name, exc)
        self._teardown()
        self._socket_path.unlink(missing_ok=True)  # never ping a socket a step left behind
        self.restarts += 1
        try:
            self._launch()
            self._wait_ready()
        except (SandboxError, OSError) as restart_exc:
            raise SandboxError(f"Restarting the sandbox failed: {restart_exc}") from exc
        return detail

    def _runner_args(
        self, *, socket_path: str, workspace: str, data: str, tools_dir: str, extra: list[str]
    ) -> list[str]:
        resources = self._require_resources()
        return [
            "serve",
            "--socket",
            socket_path,
            "--workspace",
            workspace,
            "--data",
            data,
            "--tools-dir",
            tools_dir,
            "--fsize-mb",
            str(resources.disk_mb),
            "--disk-mb",
            str(resources.disk_mb),
            "--max-files",
            str(resources.max_files),
            "--preload",
            ",".join(preload_for(resources)),
            *extra,
        ]


def workspace_relative(path: str) -> str:
    """`/workspace/x.csv` and `./x.csv` as `x.csv`; anything else as given."""
    for prefix in ("/workspace/", "./"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _shown(path: str) -> str:
    """An agent-chosen path, printable and short, for a message."""
    text = path.replace("\x00", "\\0")
    return text if len(text) <= 120 else text[:120] + "..."


def preload_for(resources: Resources) -> tuple[str, ...]:
    """What the runner imports up front: everything, unless memory is too tight for it."""
    if resources.memory_mb >= 1024:
        return _runner.DEFAULT_PRELOAD
    if resources.memory_mb >= 512:
        return ("numpy", "pandas")
    return ("numpy",)


def _exec_result(reply: dict[str, Any]) -> ExecResult:
    fields = {k: reply[k] for k in ExecResult.model_fields if k in reply}
    if "status" not in fields:
        return ExecResult.sandbox_error(
            "ProtocolError", "the runner sent an unexpected reply", detail=str(reply)
        )
    return ExecResult(**fields)


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
