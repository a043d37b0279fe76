"""Reading files of a run folder or a bundle that someone else may have written.

A bundle comes from outside (a downloaded run, a submission): files are read with the bounded
reader of `mledojo._files` (no symlink, regular files only, a cap), whose refusals become
`LeaderboardError`s here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from mledojo._files import UnsafeFileError, iter_bounded_lines, read_bounded
from mledojo.errors import MLEDojoError

MAX_RESULT_BYTES = 1 << 20  # a result.json is a few kB
MAX_TRAJECTORY_BYTES = 512 << 20


class LeaderboardError(MLEDojoError):
    """Leaderboard input (a result, a trajectory, a run folder) is unusable; says which."""


def _refused(e: UnsafeFileError) -> LeaderboardError:
    """The bounded reader's refusal, with what a run folder must hold."""
    if e.reason == "unopenable":  # ELOOP: a symlink
        return LeaderboardError(f"{e}; a run folder holds regular files, never symlinks")
    return LeaderboardError(str(e))


def read_text(path: Path, *, max_bytes: int) -> str:
    """The whole file as UTF-8 text, refusing symlinks, special files and files over the cap."""
    try:
        data = read_bounded(path, max_bytes=max_bytes)
    except UnsafeFileError as e:
        raise _refused(e) from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LeaderboardError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e


def iter_lines(path: Path, *, max_bytes: int = MAX_TRAJECTORY_BYTES) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of a JSON-lines file, with the same refusals as `read_text`."""
    try:
        for number, raw in iter_bounded_lines(path, max_bytes=max_bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise LeaderboardError(f"{path}:{number}: not UTF-8 text ({e.reason})") from e
            if text.strip():
                yield number, text
    except UnsafeFileError as e:
        raise _refused(e) from e


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
