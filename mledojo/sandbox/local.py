"""`LocalSandbox`: the runner as a host subprocess, for machines without Docker.

It is weaker than `DockerSandbox` and says so (see docs/sandbox.md). What it does:

* the same fork-server runner (`_runner.py`) with the host's Python: same protocol,
  same output capping, same timeout semantics, same fresh namespace per step;
* per-process limits with `setrlimit` (address space, file size, CPU seconds and, when it
  runs as root, process count) and a workspace size check;
* when started as root: the runner runs in a minimal root of its own (`_jail.py`): private
  mount and network namespaces (loopback only), only the system folders and the Python
  installation read-only (every copy of the mledojo library in them hidden), the data
  read-only at `/data`, the workspace at `/workspace`, a size-limited `/tmp`, a fresh
  `/proc`, a minimal `/dev`, as a uid of its own: the rest of the host's file system (the
  library's checkout, the data caches, shared Kaggle files, other episodes) is not there;
* when not root (`unsafe-local` only): an unprivileged user+network namespace if the kernel
  allows it, else a loud warning that the network is reachable; the host's file system is
  visible.

This module also holds `RunnerSandbox`, the part shared with `DockerSandbox`: talking to
the runner, turning replies into results, and restarting a runner that died.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

from mledojo.errors import SandboxError
from mledojo.sandbox import _jail, _runner, cleanup
from mledojo.sandbox.client import SOCKET_NAME, RunnerSandbox
from mledojo.sandbox.jailplan import (
    CONTROL_INSIDE,
    DATA_INSIDE,
    RUNNER_INSIDE,
    TOOLS_INSIDE,
    WORKSPACE_INSIDE,
    jail_plan,
)

log = logging.getLogger(__name__)

RUNNER_FILE = Path(_runner.__file__)
JAIL_FILE = Path(_jail.__file__)
TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"
MARKER_ENV = "MLEDOJO_SANDBOX_ID"

CLONE_NEWUSER = 0x10000000

# --------------------------------------------------------------------------- LocalSandbox


class LocalSandbox(RunnerSandbox):
    """The runner in a host subprocess: same interface, weaker isolation (see module doc).

    As root, each episode gets a uid of its own (`EPISODE_UID_BASE` + a random offset,
    never a login account), so its processes can all be killed at once (`kill(-1)` as that
    uid), `RLIMIT_NPROC` counts only them, and no other episode can read its files; and
    its runner sees a minimal root (`_jail.py`), not the host's file system.
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
        (ctl / "run").mkdir(exist_ok=True)
        ctl.chmod(0o755)
        if self._uid is not None:
            os.chown(ctl / "run", self._uid, self._uid)
            if first_launch:  # a fresh workspace; after a restart it is already the uid's
                _chown_tree(self._workspace, self._uid, self._uid)
            command, env = self._jailed_command(ctl, self._uid)
            preexec = None
        else:
            command, env = self._unsafe_command()
            preexec = _isolate_user
        logf = open(ctl / "runner.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                command,
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec,  # noqa: PLW1509 - unsafe-local only; the jail execs
                start_new_session=True,
            )
        finally:
            logf.close()
        self.network_isolated = True
        if self._uid is None and not _probe_userns():
            self.network_isolated = False

    def _jailed_command(self, ctl: Path, uid: int) -> tuple[list[str], dict[str, str]]:
        """As root: the launcher that builds the runner's own root, then runs it there."""
        if self._data_dir is None or self._workspace is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        resources = self._require_resources()
        root_mount = ctl / "root"
        root_mount.mkdir(mode=0o700, exist_ok=True)
        args = self._runner_args(
            socket_path=f"{CONTROL_INSIDE}/{SOCKET_NAME}",
            workspace=WORKSPACE_INSIDE,
            data=DATA_INSIDE,
            tools_dir=TOOLS_INSIDE,
            extra=self._limit_args(resources.pids) + ["--tmp-dir", "/tmp"],
        )
        plan = jail_plan(
            python=self._python,
            root_mount=root_mount,
            data=self._data_dir,
            workspace=self._workspace,
            control=ctl / "run",
            runner=RUNNER_FILE,
            tools=TOOLS_DIR,
            resources=resources,
            uid=uid,
            argv=(self._python, RUNNER_INSIDE, *args),
        )
        env = self._env(home="/tmp", data=DATA_INSIDE, workspace=WORKSPACE_INSIDE)
        env["MPLCONFIGDIR"] = "/tmp"
        return [self._python, "-I", "-S", str(JAIL_FILE), plan.to_json()], env

    def _unsafe_command(self) -> tuple[list[str], dict[str, str]]:
        """Not root (`unsafe-local`): the runner as the caller, on the host's paths."""
        if self._data_dir is None or self._workspace is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        args = self._runner_args(
            socket_path=str(self._socket_path),
            workspace=str(self._workspace),
            data=str(self._data_dir),
            tools_dir=str(TOOLS_DIR),
            extra=self._limit_args(None),
        )
        home = os.environ.get("HOME", "/tmp")
        env = self._env(home=home, data=str(self._data_dir), workspace=str(self._workspace))
        return [self._python, str(RUNNER_FILE), *args], env

    def _limit_args(self, nproc: int | None) -> list[str]:
        resources = self._require_resources()
        extra = ["--as-mb", str(resources.memory_mb), "--peer", f"pid:{os.getpid()}"]
        extra += ["--parent-pid", str(os.getpid())]
        if nproc is not None:
            extra += ["--nproc", str(nproc), "--sweep"]
        return extra

    def _env(self, *, home: str, data: str, workspace: str) -> dict[str, str]:
        resources = self._require_resources()
        threads = str(max(1, int(resources.cpus)))
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        return {
            **keep,
            "HOME": home,
            "MLEDOJO_DATA": data,
            "MLEDOJO_WORKSPACE": workspace,
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
        # SIGKILL is delivered at once but a process takes a moment to exit (longer on a
        # loaded machine): give each round a short while before sending the next one.
        deadline = time.monotonic() + 1.0
        while pids_of_uid(uid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        else:
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


def _isolate_user() -> None:
    """In the child of `unsafe-local` (a `preexec_fn`): a user+network namespace if the
    kernel allows it."""
    if _jail.LIBC.unshare(CLONE_NEWUSER | _jail.CLONE_NEWNET) == 0:
        try:
            _jail.loopback_up()
        except OSError:
            pass


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
