"""The host processes of a LocalSandbox episode uid: find them, kill them, pick a free uid.

As root, each LocalSandbox episode runs under a uid of its own (never a login account).
`LocalSandbox.stop` kills what runs under it, and `cleanup.reap_control_dirs` does the same
for the uid a killed host left behind; both use this module, which imports neither.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import time

from mledojo.errors import SandboxError

log = logging.getLogger(__name__)

EPISODE_UID_BASE = 0x4D4C0000  # 1296826368: far above any login or container uid
EPISODE_UID_SPAN = 1 << 16


def free_episode_uid() -> int:
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
