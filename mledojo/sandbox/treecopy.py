"""A bounded copy of a folder tree that an agent wrote, by descriptors only.

Used to move an episode's workspace between the host and its disk volume (`quota.py`).
Every name is opened relative to its parent's descriptor with `O_NOFOLLOW`, so a symlink,
even one swapped in mid-copy, is never followed: a symlink is copied as a link (its text).
Special files (FIFOs, sockets, devices) are skipped; so is anything nested past
`MAX_COPY_DEPTH` levels or `MAX_COPY_PATH` bytes of relative path (so every copied path
fits in PATH_MAX under its destination), and anything past a budget of bytes and entries.
Files lose setuid/setgid bits and keep their holes; everything copied belongs to the caller.
With `single_links`, a regular file with more than one hard link is skipped too: its other
name may be a file the agent could not read itself (`mledojo.fork`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MAX_COPY_DEPTH = 64
MAX_COPY_PATH = 3072  # bytes of a path relative to the copied folder (PATH_MAX is 4096)
MIB = 1 << 20


@dataclass
class CopyReport:
    """What a copy between the host and the volume did, and what it left out on purpose."""

    files: int = 0
    folders: int = 0
    symlinks: int = 0  # copied as links (their text), never followed
    bytes: int = 0
    special: int = 0
    too_deep: int = 0
    over_budget: int = 0
    hard_links: int = 0  # regular files with more than one link, skipped (`single_links`)
    seconds: float = 0.0

    @property
    def skipped(self) -> int:
        return self.special + self.too_deep + self.over_budget + self.hard_links

    def summary(self) -> str:
        return (
            f"{self.files} files, {self.folders} folders, {self.symlinks} symlinks, "
            f"{self.bytes / MIB:.1f} MB; skipped {self.special} special files, "
            f"{self.too_deep} entries nested too deep, {self.over_budget} over the quota, "
            f"{self.hard_links} hard-linked files"
        )


@dataclass
class _Budget:
    bytes: int
    entries: int
    strict: bool  # stop at the first entry over the budget instead of skipping on
    move: bool = False  # unlink each copied file: unmounting then writes none of it back
    single_links: bool = False  # skip regular files with more than one hard link
    report: CopyReport = field(default_factory=CopyReport)


def copy_tree(
    src: Path,
    dst: Path,
    *,
    max_bytes: int,
    max_entries: int,
    strict: bool,
    move: bool = False,
    single_links: bool = False,
) -> CopyReport:
    """Copy what the folder `src` holds into the existing folder `dst` (see module doc).

    `strict` stops at the first entry over the budget (the caller checks `over_budget`);
    `move` unlinks each file from `src` once copied; `single_links` skips every regular
    file with more than one hard link (counted in `hard_links`).
    """
    started = time.monotonic()
    budget = _Budget(max_bytes, max_entries, strict=strict, move=move, single_links=single_links)
    src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            _copy_tree(src_fd, dst_fd, budget, depth=0, path_len=0)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
    budget.report.seconds = time.monotonic() - started
    return budget.report


def empty_folder(folder: Path) -> None:
    """Remove the entries of a host folder (ours: what was there before the episode)."""
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError as exc:
                log.warning("copy: could not remove %s: %s", entry.path, exc)


def _copy_tree(src: int, dst: int, budget: _Budget, *, depth: int, path_len: int) -> None:
    """Copy the folder open at `src` into the one at `dst`, by descriptors only.

    Every name is opened relative to its parent's descriptor with `O_NOFOLLOW`, so a
    symlink, even one swapped in mid-copy, is never followed: a symlink is copied as a
    link (its text). Special files (FIFOs, sockets, devices) are counted and skipped; so is
    anything past the depth and path-length limits or the budget of bytes and entries.
    """
    report = budget.report
    with os.scandir(src) as entries:
        names = [entry.name for entry in entries]
    for name in names:
        try:
            st = os.stat(name, dir_fd=src, follow_symlinks=False)
        except OSError:
            continue
        length = path_len + len(os.fsencode(name)) + 1
        kind = stat.S_IFMT(st.st_mode)
        if kind not in (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK):
            report.special += 1
            continue
        if depth >= MAX_COPY_DEPTH or length > MAX_COPY_PATH:
            report.too_deep += 1
            continue
        if report.files + report.folders + report.symlinks >= budget.entries:
            report.over_budget += 1
            if budget.strict:
                return
            continue
        if kind == stat.S_IFDIR:
            _copy_folder(name, src, dst, budget, depth=depth, path_len=length)
        elif kind == stat.S_IFLNK:
            _copy_link(name, src, dst, budget)
        else:
            _copy_file(name, src, dst, budget)


def _copy_link(name: str, src: int, dst: int, budget: _Budget) -> None:
    try:
        os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
    except OSError as exc:
        log.warning("copy: symlink %r not copied: %s", name, exc)
        return
    budget.report.symlinks += 1


def _copy_folder(
    name: str, src: int, dst: int, budget: _Budget, *, depth: int, path_len: int
) -> None:
    try:
        child_src = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=src)
    except OSError:
        return
    try:
        st = os.fstat(child_src)
        os.mkdir(name, 0o700, dir_fd=dst)
        child_dst = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dst)
        try:
            budget.report.folders += 1
            _copy_tree(child_src, child_dst, budget, depth=depth + 1, path_len=path_len)
            os.fchmod(child_dst, stat.S_IMODE(st.st_mode) & 0o777 | 0o700)
            os.utime(child_dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(child_dst)
    except OSError as exc:
        log.warning("copy: folder %r not copied: %s", name, exc)
    finally:
        os.close(child_src)


def _copy_file(name: str, src: int, dst: int, budget: _Budget) -> None:
    """Copy one regular file's data (holes stay holes); drop setuid/setgid bits."""
    try:
        fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=src)
    except OSError:
        return
    try:
        st = os.fstat(fin)
        if not stat.S_ISREG(st.st_mode):
            budget.report.special += 1
            return
        if budget.single_links and st.st_nlink > 1:  # checked on the open file: no race
            budget.report.hard_links += 1
            return
        fout = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dst
        )
        try:
            copied = _copy_data(fin, fout, st.st_size, budget.bytes - budget.report.bytes)
            if copied is None:
                budget.report.over_budget += 1
                os.close(fout)
                fout = -1
                os.unlink(name, dir_fd=dst)
                return
            os.ftruncate(fout, st.st_size)
            os.fchmod(fout, stat.S_IMODE(st.st_mode) & 0o777)
            os.utime(fout, ns=(st.st_atime_ns, st.st_mtime_ns))
            budget.report.bytes += copied
            budget.report.files += 1
            if budget.move:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=src)
        finally:
            if fout >= 0:
                os.close(fout)
    except OSError as exc:
        log.warning("copy: file %r not copied: %s", name, exc)
    finally:
        os.close(fin)


def _copy_data(fin: int, fout: int, size: int, allowance: int) -> int | None:
    """Copy the data extents of `fin` (SEEK_DATA/SEEK_HOLE); None past `allowance` bytes."""
    copied, offset = 0, 0
    while offset < size:
        try:
            start = os.lseek(fin, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left
            break
        end = os.lseek(fin, start, os.SEEK_HOLE)
        end = min(end, size)
        if copied + (end - start) > allowance:
            return None
        os.lseek(fout, start, os.SEEK_SET)
        position = start
        while position < end:
            sent = os.sendfile(fout, fin, position, min(end - position, 1 << 30))
            if sent <= 0:
                break
            position += sent
        copied += position - start
        offset = end
    return copied
