"""Reading files of a run folder or a bundle that someone else may have written.

A bundle comes from outside (a downloaded run, a submission): a symlink in it could point at
the host's secrets and a huge file could exhaust memory. Files are opened without following
symlinks, must be regular files, and are read up to a cap.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from mledojo.errors import MLEDojoError

MAX_RESULT_BYTES = 1 << 20  # a result.json is a few kB
MAX_TRAJECTORY_BYTES = 512 << 20
MAX_LINE_BYTES = 16 << 20


class LeaderboardError(MLEDojoError):
    """Leaderboard input (a result, a trajectory, a run folder) is unusable; says which."""


def _open_regular(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError as e:
        raise LeaderboardError(f"{path}: no such file") from e
    except OSError as e:  # ELOOP: a symlink
        raise LeaderboardError(
            f"{path}: cannot be opened ({e.strerror}); a run folder holds regular files, "
            "never symlinks"
        ) from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LeaderboardError(f"{path}: not a regular file")
    return fd


def read_text(path: Path, *, max_bytes: int) -> str:
    """The whole file as UTF-8 text, refusing symlinks, special files and files over the cap."""
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LeaderboardError(f"{path}: larger than {max_bytes:,} bytes; not a file mledojo wrote")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LeaderboardError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e


def iter_lines(path: Path, *, max_bytes: int = MAX_TRAJECTORY_BYTES) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of a JSON-lines file, with the same refusals as `read_text`."""
    fd = _open_regular(path)
    total = 0
    with os.fdopen(fd, "rb") as f:
        for number, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), 1):
            total += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                raise LeaderboardError(f"{path}:{number}: a line over {MAX_LINE_BYTES:,} bytes")
            if total > max_bytes:
                raise LeaderboardError(f"{path}: larger than {max_bytes:,} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise LeaderboardError(f"{path}:{number}: not UTF-8 text ({e.reason})") from e
            if text.strip():
                yield number, text


def find_files(root: Path, match: Callable[[str], bool]) -> list[Path]:
    """Files under `root` whose name matches (sorted), never following symlinked folders.

    Skipped: `workspace/` (the agent's own folder: a `result.json` the agent wrote there is
    not a result), hidden folders, `*.failed-*` and `*.attempt-*` folders (attempts the
    runner set aside).
    """
    if root.is_symlink() or not root.is_dir():
        raise LeaderboardError(f"{root}: not a folder (give a run folder or a submissions folder)")
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(
            d
            for d in dirs
            if d != "workspace"
            and not d.startswith(".")
            and ".failed-" not in d
            and ".attempt-" not in d
        )
        found.extend(Path(folder) / f for f in files if match(f))
    return sorted(found)
