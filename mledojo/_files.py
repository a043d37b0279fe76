"""Host-side file helpers: importing a Python file by path (competition helpers and agents
are not packages), hashing a file and replacing a file atomically."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

from mledojo.errors import MLEDojoError


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
