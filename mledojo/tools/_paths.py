"""Paths a tool may read and write: inside the data or workspace folder only.

Tool arguments are hostile. A path is given as the sandbox sees it: `/data/...`,
`/workspace/...` or relative to the workspace. It may not hold `..`, a NUL or a
backslash, may not point elsewhere, and after following symlinks must still lie inside
its root (a symlink planted in the workspace cannot make a tool read `/etc` or write the
runner's files). Outputs go to `<workspace>/tools/<handle>.<ext>` only.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from ._base import HANDLE_PATTERN, ToolArgumentError, ToolError
from ._ledger import record, sha256

DATA_PREFIX = "/data"
WORKSPACE_PREFIX = "/workspace"
TOOLS_SUBDIR = "tools"
MAX_PATH_CHARS = 500
MAX_INPUT_BYTES = 2 * 1024**3


def data_root() -> Path:
    """The real folder behind `/data` (LocalSandbox maps it elsewhere)."""
    return Path(os.environ.get("MLEDOJO_DATA", DATA_PREFIX))


def workspace_root() -> Path:
    """The real folder behind `/workspace`."""
    return Path(os.environ.get("MLEDOJO_WORKSPACE", WORKSPACE_PREFIX))


def tools_dir() -> Path:
    """`<workspace>/tools`, created on first use; refused when it is a symlink."""
    root = workspace_root()
    folder = root / TOOLS_SUBDIR
    if folder.is_symlink():
        raise ToolError(f"{WORKSPACE_PREFIX}/{TOOLS_SUBDIR} is a symlink; remove it")
    folder.mkdir(mode=0o755, exist_ok=True)
    if not folder.is_dir():
        raise ToolError(f"{WORKSPACE_PREFIX}/{TOOLS_SUBDIR} is not a folder; remove it")
    return folder


def resolve_input(path: str, *, argument: str) -> Path:
    """The real, existing regular file behind `path` (a sandbox path), checked for escapes."""
    real_root, rest = _split(path, argument)
    candidate = real_root / rest if rest else real_root
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ToolArgumentError(
            f"argument `{argument}`: no file {path!r}; list the files with request_info"
        ) from None
    roots = (data_root().resolve(), workspace_root().resolve())
    if not any(_inside(resolved, root) for root in roots):
        raise ToolArgumentError(
            f"argument `{argument}`: {path!r} leads outside {DATA_PREFIX} and "
            f"{WORKSPACE_PREFIX} (through a symlink); use a file inside them"
        )
    if not resolved.is_file():
        raise ToolArgumentError(f"argument `{argument}`: {path!r} is not a regular file")
    size = resolved.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise ToolArgumentError(
            f"argument `{argument}`: {path!r} is {size:,} bytes; the limit is {MAX_INPUT_BYTES:,}"
        )
    return resolved


def resolve_output(path: str, *, argument: str) -> Path:
    """The real path a tool may write for `path`: inside the workspace, parent not a symlink."""
    real_root, rest = _split(path, argument)
    if real_root != workspace_root() or not rest:
        raise ToolArgumentError(
            f"argument `{argument}`: tools write inside {WORKSPACE_PREFIX} only, e.g. "
            f"{WORKSPACE_PREFIX}/submission.csv"
        )
    target = real_root / rest
    parent = target.parent.resolve()
    if not _inside(parent, real_root.resolve()) or target.parent.is_symlink():
        raise ToolArgumentError(f"argument `{argument}`: {path!r} leads outside {WORKSPACE_PREFIX}")
    if not parent.is_dir():
        raise ToolArgumentError(f"argument `{argument}`: the folder of {path!r} does not exist")
    return target


def handle_path(handle: str, suffix: str) -> Path:
    """`<workspace>/tools/<handle><suffix>` for a validated handle name."""
    if not re.match(HANDLE_PATTERN, handle):
        raise ToolArgumentError(f"handle {handle[:70]!r} must match {HANDLE_PATTERN}")
    return tools_dir() / f"{handle}{suffix}"


def sandbox_path(real: Path) -> str:
    """The path as the agent sees it (`/workspace/...` or `/data/...`)."""
    for root, prefix in ((workspace_root(), WORKSPACE_PREFIX), (data_root(), DATA_PREFIX)):
        for base in (root, root.resolve()):
            if _inside(real, base):
                rel = real.relative_to(base).as_posix()
                return prefix if rel == "." else f"{prefix}/{rel}"
    return real.name


def write_atomic(target: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename over `target`.

    The rename replaces a symlink planted at `target` instead of writing through it. The
    bytes' digest goes to the call's ledger (`_ledger.py`), for the host.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        digest = sha256(Path(tmp))
        os.replace(tmp, target)
        record(sandbox_path(target), digest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _split(path: str, argument: str) -> tuple[Path, str]:
    """(real root, relative rest) of a sandbox path; refuses everything else."""
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_CHARS:
        raise ToolArgumentError(
            f"argument `{argument}`: a path of 1 to {MAX_PATH_CHARS} characters"
        )
    if "\x00" in path or "\\" in path:
        raise ToolArgumentError(f"argument `{argument}`: the path holds a NUL or a backslash")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ToolArgumentError(f"argument `{argument}`: `..` is not allowed in paths")
    if path.startswith("/"):
        if parts[:1] == [DATA_PREFIX.strip("/")]:
            return data_root(), "/".join(parts[1:])
        if parts[:1] == [WORKSPACE_PREFIX.strip("/")]:
            return workspace_root(), "/".join(parts[1:])
        raise ToolArgumentError(
            f"argument `{argument}`: {path[:80]!r} is outside {DATA_PREFIX} and "
            f"{WORKSPACE_PREFIX}; tools read only there"
        )
    return workspace_root(), "/".join(parts)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True
