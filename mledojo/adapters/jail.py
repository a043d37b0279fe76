"""A wrapped agent's driver in a jail of its own (as root), or as the host's user (warned).

The driver runs third-party code that parses the model's replies, so the host treats it as
hostile. As root it starts through the `local` sandbox's launcher (`sandbox/_jail.py`) with a
plan of its own (`jailplan.driver_jail_plan`): a minimal root holding the system folders and
the agent's venv read-only (every mledojo copy masked), its driver folder and its config
file read-only, the bridge client read-only at `BRIDGE_INSIDE` (its `PYTHONPATH`), its
`home`, `tmp` and `work` folders read-write (owned by a fresh episode uid); private mount,
IPC and network namespaces (loopback only); the episode uid with no groups and
`no_new_privs`. The model gateway is reachable there through one socket: the launcher
listens on the gateway's port inside the driver's network namespace and sends that socket
to the host, whose gateway serves on it too, so the SDKs keep their plain
`http://127.0.0.1:<port>` base URL. At stop every process of the uid is killed (`kill(-1)`
as that uid) and its folders are given back to the host's user; a host killed with SIGKILL
leaves a control folder naming the uid, which `mledojo cleanup` and every sandbox start
reap as they do a LocalSandbox's.

Not root, the driver runs as today (the host's user, its file system and network) and the
host warns once.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from mledojo.errors import SandboxError
from mledojo.sandbox._jail import JailPlan
from mledojo.sandbox.cleanup import CONTROL_PREFIX, OWNER_FILE, write_owner
from mledojo.sandbox.episode_uids import free_episode_uid, kill_uid, pids_of_uid
from mledojo.sandbox.hostfiles import JAIL_FILE, chown_tree, give_back
from mledojo.sandbox.jailplan import BRIDGE_INSIDE, driver_jail_plan

log = logging.getLogger(__name__)

Isolation = Literal["jail", "none"]
HANDOFF_TIMEOUT_S = 60.0  # for the launcher to build the root and send the gateway's socket
NOT_ISOLATED_WARNING = (
    "mledojo is not running as root: wrapped agents' drivers (AIDE, mini-swe-agent, yours) "
    "run as you, with your file system (your files, the data cache with the hidden answers, "
    "the mledojo checkout) and your network reachable from the third-party code that parses "
    "the model's replies. Run as root (as CI does) to start each driver in a jail of its "
    "own; never run graded or leaderboard runs like this."
)


def isolation_available() -> bool:
    """Whether drivers can be jailed here (root); warns once per process when not."""
    if os.geteuid() == 0:
        return True
    _warn_not_isolated()
    return False


@functools.cache
def _warn_not_isolated() -> None:
    log.warning(NOT_ISOLATED_WARNING)
    warnings.warn(NOT_ISOLATED_WARNING, RuntimeWarning, stacklevel=4)


__all__ = ["BRIDGE_INSIDE", "DriverJail", "Isolation", "isolation_available"]


class DriverJail:
    """One driver launch in its jail: the command, the gateway's socket, the stop.

    `serve` receives the listening socket the launcher made in the driver's network
    namespace (the gateway serves on it); `port` is the gateway's port, kept inside.
    """

    def __init__(
        self,
        *,
        python: Path,
        client: Path,
        read_only: tuple[Path, ...],
        folder: Path,
        port: int,
        serve: Callable[[socket.socket], None],
    ) -> None:
        self.python = python
        self.client = client
        self.read_only = read_only
        self.writable = tuple(folder / sub for sub in ("home", "tmp", "work"))
        self.port = port
        self.serve = serve
        self.uid: int | None = None
        self._control: Path | None = None
        self._host_end: socket.socket | None = None
        self._child_end: socket.socket | None = None

    def command(self, argv: list[str], cwd: Path) -> tuple[list[str], tuple[int, ...]]:
        """The launcher's command for `argv` (run in `cwd`) and the descriptor it needs;
        `OSError` (after undoing what was done) when the jail cannot be prepared."""
        try:
            plan = self._plan(argv, cwd)
        except (OSError, SandboxError) as exc:
            self.stop()
            raise OSError(f"the driver's jail could not be prepared: {exc}") from exc
        launcher = [sys.executable, "-I", "-S", str(JAIL_FILE), plan.to_json()]
        return launcher, (plan.handoff_fd,)

    def _plan(self, argv: list[str], cwd: Path) -> JailPlan:
        self.uid = free_episode_uid()
        for path in self.writable:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            chown_tree(path, self.uid, self.uid)
        # A control folder like a sandbox's: a host killed with SIGKILL leaves it, and
        # `cleanup.reap_control_dirs` (every sandbox start, `mledojo cleanup`) kills the uid.
        self._control = Path(tempfile.mkdtemp(prefix=CONTROL_PREFIX))
        write_owner(self._control, uid=self.uid)
        root = self._control / "root"
        root.mkdir(mode=0o700)
        self._host_end, self._child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return driver_jail_plan(
            python=str(self.python),
            root_mount=root,
            client=self.client,
            read_only=self.read_only,
            writable=self.writable,
            uid=self.uid,
            cwd=cwd,
            argv=tuple(argv),
            listen_port=self.port,
            handoff_fd=self._child_end.fileno(),
        )

    def started(self) -> None:
        """After the launch: take the gateway's socket from the launcher and serve on it.
        `OSError` when the launcher failed before sending it (its log says why)."""
        if self._host_end is None or self._child_end is None:
            raise OSError("the driver's jail was not launched")
        self._child_end.close()
        self._child_end = None
        self._host_end.settimeout(HANDOFF_TIMEOUT_S)
        try:
            _, fds, _, _ = socket.recv_fds(self._host_end, 64, 1)
        except TimeoutError:
            raise OSError(
                f"the driver's jail sent no gateway socket within {HANDOFF_TIMEOUT_S:g} s"
            ) from None
        finally:
            self._host_end.close()
            self._host_end = None
        if len(fds) != 1:
            raise OSError("the driver's jail could not be built (see the driver's log)")
        self.serve(socket.socket(fileno=fds[0]))

    def stop(self) -> None:
        """Kill every process of the driver's uid, give its folders back, drop the mount
        point; idempotent."""
        for end in (self._host_end, self._child_end):
            if end is not None:
                end.close()
        self._host_end = self._child_end = None
        uid, self.uid = self.uid, None
        if uid is not None:
            kill_uid(uid)
            survivors = [f"pid {p}" for p in pids_of_uid(uid)]
            for path in self.writable:
                give_back(path, os.getuid(), os.getgid(), survivors=survivors)
        if self._control is not None:
            try:  # rmdir, never a tree walk: the root was mounted on in the launcher only
                (self._control / OWNER_FILE).unlink(missing_ok=True)
                if (self._control / "root").exists():
                    (self._control / "root").rmdir()
                self._control.rmdir()
            except OSError as exc:
                log.warning("could not remove the driver's folder %s: %s", self._control, exc)
            self._control = None
