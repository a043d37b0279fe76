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
  visible. The same launcher (`_jail.py --userns`) enters the namespace and then `execv`s
  the runner: no Python code runs between `fork` and `exec` (no `preexec_fn`).

What it shares with `DockerSandbox` lives below both: talking to the runner
(`client.RunnerSandbox`), the runner and tools it binds and the workspace's ownership
(`hostfiles.py`), and the processes of an episode uid (`episode_uids.py`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

from mledojo.errors import SandboxError
from mledojo.sandbox import cleanup
from mledojo.sandbox._jail import USERNS_FLAG
from mledojo.sandbox.client import SOCKET_NAME, RunnerSandbox
from mledojo.sandbox.episode_uids import free_episode_uid, kill_uid, pids_of_uid
from mledojo.sandbox.hostfiles import JAIL_FILE, RUNNER_FILE, TOOLS_DIR, chown_tree, give_back
from mledojo.sandbox.jailplan import (
    CONTROL_INSIDE,
    DATA_INSIDE,
    RUNNER_INSIDE,
    TOOLS_INSIDE,
    WORKSPACE_INSIDE,
    jail_plan,
)

log = logging.getLogger(__name__)

MARKER_ENV = "MLEDOJO_SANDBOX_ID"

# --------------------------------------------------------------------------- LocalSandbox


class LocalSandbox(RunnerSandbox):
    """The runner in a host subprocess: same interface, weaker isolation (see module doc).

    As root, each episode gets a uid of its own (`episode_uids.EPISODE_UID_BASE` + an offset,
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
            self._uid = free_episode_uid()
        cleanup.write_owner(ctl, uid=self._uid)
        (ctl / "run").mkdir(exist_ok=True)
        ctl.chmod(0o755)
        if self._uid is not None:
            os.chown(ctl / "run", self._uid, self._uid)
            if first_launch:  # a fresh workspace; after a restart it is already the uid's
                chown_tree(self._workspace, self._uid, self._uid)
            command, env = self._jailed_command(ctl, self._uid)
        else:
            command, env = self._unsafe_command()
        logf = open(ctl / "runner.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                command,
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            logf.close()
        if self._uid is None:
            _warn_without_userns()

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
        """Not root (`unsafe-local`): the runner as the caller, on the host's paths, launched
        in a user+network namespace when the kernel allows it (`_jail.py --userns`)."""
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
        runner = [self._python, str(RUNNER_FILE), *args]
        launcher = [self._python, "-I", "-S", str(JAIL_FILE), USERNS_FLAG, json.dumps(runner)]
        return launcher, env

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
            # Popen.kill signals only an unreaped child: once a poll has reaped the runner its
            # pid is free, and on a busy host (pid_max is often 32768) it soon names another
            # process, such as a container's.
            self._proc.kill()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("local runner %s did not exit after SIGKILL", self._proc.pid)
            self._proc = None
        if self._uid is not None:
            kill_uid(self._uid)
        elif self._marker:
            for pid in self.leftovers_pids():
                _kill_if_marked(pid, self._marker_entry())

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
        needle = self._marker_entry()
        return [int(n) for n in os.listdir("/proc") if n.isdigit() and _marked(int(n), needle)]

    def _marker_entry(self) -> bytes:
        return f"{MARKER_ENV}={self._marker}".encode()

    def leftovers(self) -> list[str]:
        """What is still running after stop (for the conformance suite's cleanup check)."""
        return [f"pid {p}" for p in self.leftovers_pids()]


NEEDS_ROOT_MESSAGE = (
    "LocalSandbox needs root to run each episode under a uid of its own (without it, agent "
    "code would run as you, read your files and outlive the episode). Start Docker "
    "(`sudo bash scripts/ensure_docker.sh`), run as root, or pass sandbox='unsafe-local' "
    "to accept that (never for graded or leaderboard runs)."
)


def _marked(pid: int, entry: bytes) -> bool:
    """Whether process `pid` carries the environment entry `entry`."""
    try:
        return entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _kill_if_marked(pid: int, entry: bytes) -> None:
    """SIGKILL `pid` if it still carries `entry`. The pidfd pins the process checked: if it
    exits and its pid is reused meanwhile, the signal fails instead of reaching the new one."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        if _marked(pid, entry):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(fd)


def _warn_without_userns() -> None:
    """Warn when no unprivileged user+network namespace can be created here (so the
    launcher entered none): agent code can then reach the network."""
    try:
        done = subprocess.run(
            ["unshare", "--user", "--net", "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return
    if done.returncode != 0:
        warnings.warn(
            "LocalSandbox cannot isolate the network on this machine (not root and no "
            "unprivileged user namespaces): agent code can reach the network.",
            RuntimeWarning,
            stacklevel=3,
        )
