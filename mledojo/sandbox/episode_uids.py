"""The host processes of a LocalSandbox episode uid: find them, kill them, pick a free uid.

As root, each LocalSandbox episode runs under a uid of its own (never a login account).
`LocalSandbox.stop` kills what runs under it, and `cleanup.reap_control_dirs` does the same
for the uid a killed host left behind; both use this module, which imports neither.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import time

from mledojo.errors import SandboxError
from mledojo.sandbox import _jail
from mledojo.sandbox.hostfiles import JAIL_FILE

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


def is_episode_uid(uid: int) -> bool:
    """Whether `uid` lies in the range LocalSandbox gives episodes (never a login or root)."""
    return EPISODE_UID_BASE <= uid < EPISODE_UID_BASE + EPISODE_UID_SPAN


def kill_uid(uid: int) -> None:
    """Kill every process of the episode uid `uid`: `kill(-1)` from a helper that becomes it.

    The kernel signals them all at once (a fork in flight fails), so nothing escapes by
    forking, clearing its environment or changing its process group. The helper is the
    exec'd launcher (`_jail.py --kill-uid`), not a fork running Python: the host may have
    threads (the MLE-Bot steps episodes from a thread pool). Needs root; a uid outside the
    episode range is refused (`kill(-1)` as root would end every process of the host).
    """
    if not is_episode_uid(uid):
        log.warning("not killing the processes of uid %s: not an episode uid", uid)
        return
    command = [sys.executable, "-I", "-S", str(JAIL_FILE), _jail.KILL_UID_FLAG, str(uid)]
    for _ in range(3):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            log.warning("kill(-1) as uid %s failed: %s", uid, done.stderr.strip()[-500:])
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
