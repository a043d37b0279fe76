"""The host files every runner-based sandbox shares: the code it runs or shows its runner,
and the ownership of the episode's workspace.

`LocalSandbox` and `DockerSandbox` both bind the runner (`_runner.py`) and the trusted tools
(`mledojo/tools/`) into their sandbox, and both hand the workspace to the sandbox's uid at
start and back to the host user at stop. The walk is the same in both, so it lives here once.
`LocalSandbox` also runs the launcher (`_jail.py`) as its runner's process and, as root,
to kill an episode's uid (`episode_uids.kill_uid`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mledojo.sandbox import _jail, _runner

log = logging.getLogger(__name__)

RUNNER_FILE = Path(_runner.__file__)
JAIL_FILE = Path(_jail.__file__)
TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"


def chown_tree(root: Path, uid: int, gid: int) -> None:
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
    chown_tree(workspace, uid, gid)
