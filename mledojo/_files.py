"""Host-side file helpers: importing a Python file by path (competition helpers and agents
are not packages), hashing a file, replacing a file atomically, and the one bounded reader
of files someone else wrote.

The bounded reader is for files the host did not write itself (a run folder, a downloaded
bundle, a submission): a symlink in them could point at the host's secrets and a huge file
could exhaust memory, so a file is opened without following a symlink, must be a regular
file, and is read up to a cap (it may grow after any `stat`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Literal

from mledojo.errors import MLEDojoError

MAX_LINE_BYTES = 16 << 20
UnsafeReason = Literal["missing", "unopenable", "not_regular", "too_large"]


class UnsafeFileError(MLEDojoError):
    """A file the bounded reader refuses: missing, a symlink, not a regular file or too large.

    The message names the path and why; `reason` says which refusal it is, so callers can add
    what the user should do.
    """

    def __init__(self, message: str, reason: UnsafeReason) -> None:
        super().__init__(message)
        self.reason: UnsafeReason = reason


def import_file(path: Path, prefix: str) -> ModuleType:
    """Import `path` as a module named `<prefix>_<hash of the path>` (hyphens are fine)."""
    name = f"{prefix}_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise MLEDojoError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file beside it and a rename, so a
    crash never leaves half a file; the pid in the temporary name keeps two writers apart."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def sha256_file(path: Path) -> str:
    """The sha256 of a regular file, read in chunks, opened without following a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_regular(path: Path) -> int:
    """A read-only descriptor of `path`; refuses a symlink (its last part) or a special file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError as e:
        raise UnsafeFileError(f"{path}: no such file", "missing") from e
    except OSError as e:  # ELOOP: a symlink
        raise UnsafeFileError(f"{path}: cannot be opened ({e.strerror})", "unopenable") from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFileError(f"{path}: not a regular file", "not_regular")
    return fd


def read_bounded(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, refusing symlinks, special files and more than
    `max_bytes` (counted while reading, so a file that grows is refused too)."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{path}: larger than {max_bytes:,} bytes", "too_large")
    return data


def iter_bounded_lines(
    path: Path, *, max_bytes: int, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line) of the regular file `path`, with `read_bounded`'s
    refusals, and a refusal of any line over `max_line_bytes` (read one line at a time)."""
    fd = open_regular(path)
    total = 0
    with os.fdopen(fd, "rb") as f:
        for number, raw in enumerate(iter(lambda: f.readline(max_line_bytes + 1), b""), 1):
            total += len(raw)
            if len(raw) > max_line_bytes:
                raise UnsafeFileError(
                    f"{path}:{number}: a line over {max_line_bytes:,} bytes", "too_large"
                )
            if total > max_bytes:
                raise UnsafeFileError(f"{path}: larger than {max_bytes:,} bytes", "too_large")
            yield number, raw
