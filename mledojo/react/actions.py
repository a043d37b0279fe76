"""The ReAct actions as code cells for the episode's sandbox (nothing runs on the host).

Paths are checked twice: here as text (relative to the workspace, or under `/data` for the
read-only actions; no `..`, no other absolute path), and again in the cell after resolving
symlinks, so a link planted in the workspace cannot lead a read or a write out of it. The
arguments reach a cell as one JSON literal, never spliced into code.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

MAX_READ_BYTES = 200_000  # a file read for Inspect / Understand / Edit
MAX_WRITE_CHARS = 200_000  # a script Edit Script (AI) writes
MAX_LISTING = 500  # entries List Files shows
DATA_PREFIX = "/data"


class PathRefused(ValueError):
    """A path outside the workspace (or outside /data for a read); the message says why."""


def check_path(path: str, *, write: bool) -> str:
    """`path` normalised, or `PathRefused`: workspace-relative, or under /data for reads."""
    text = path.strip()
    if not text or "\x00" in text or "\\" in text:
        raise PathRefused(f"{path[:120]!r} is not a usable path")
    pure = PurePosixPath(text)
    if ".." in pure.parts:
        raise PathRefused(f"{text[:120]!r} leaves the workspace (`..` is not allowed)")
    if pure.is_absolute():
        under_data = pure.parts[:2] == ("/", "data")
        if write or not under_data:
            where = "the workspace" if write else "the workspace or /data"
            raise PathRefused(
                f"{text[:120]!r} is outside {where}; use a path relative to the workspace"
                + ("" if write else " or one under /data")
            )
    return str(pure)


_PRELUDE = """
import json, os
ARGS = json.loads({args!r})
WORK = os.path.realpath(os.getcwd())
DATA = os.path.realpath(os.environ.get("MLEDOJO_DATA", "/data"))

def resolve(path, write=False):
    if path == "/data" or path.startswith("/data/"):
        if write:
            raise PermissionError(path + " is read-only")
        full, root = os.path.join(DATA, path[len("/data"):].lstrip("/")), DATA
    else:
        full, root = os.path.join(WORK, path), WORK
    real = os.path.realpath(full)
    if real != root and not real.startswith(root + os.sep):
        raise PermissionError(path + " resolves outside the workspace")
    return real

def read(path):
    with open(resolve(path), "rb") as f:
        data = f.read({max_read} + 1)
    text = data[:{max_read}].decode("utf-8", "replace")
    return text, len(data) > {max_read}
"""


def _cell(body: str, args: dict[str, object]) -> str:
    prelude = _PRELUDE.format(args=json.dumps(args), max_read=MAX_READ_BYTES)
    return prelude + body


def list_files_code(dir_path: str) -> str:
    body = f"""
base = resolve(ARGS["path"])
names = sorted(os.listdir(base))
for name in names[:{MAX_LISTING}]:
    full = os.path.join(base, name)
    print(name + ("/" if os.path.isdir(full) else ""))
if len(names) > {MAX_LISTING}:
    print("... and", len(names) - {MAX_LISTING}, "more")
"""
    return _cell(body, {"path": dir_path})


def read_file_code(path: str) -> str:
    """Prints the file's text (at most MAX_READ_BYTES) as one JSON object."""
    body = """
text, cut = read(ARGS["path"])
print(json.dumps({"text": text, "cut": cut}))
"""
    return _cell(body, {"path": path})


def write_file_code(path: str, content: str) -> str:
    body = """
target = resolve(ARGS["path"], write=True)
os.makedirs(os.path.dirname(target), exist_ok=True)
with open(target, "w", encoding="utf-8") as f:
    f.write(ARGS["content"])
print("wrote", len(ARGS["content"]), "characters to", ARGS["path"])
"""
    return _cell(body, {"path": path, "content": content[:MAX_WRITE_CHARS]})


def execute_script_code(path: str, timeout_s: float, max_chars: int) -> str:
    """Runs the script with the sandbox's Python in the workspace; prints its output's tail."""
    body = f"""
import subprocess, sys
script = resolve(ARGS["path"])
try:
    done = subprocess.run([sys.executable, script], cwd=WORK, capture_output=True,
                          timeout={timeout_s!r})
    out = (done.stdout + done.stderr).decode("utf-8", "replace")
    code = done.returncode
except subprocess.TimeoutExpired as e:
    out = ((e.stdout or b"") + (e.stderr or b"")).decode("utf-8", "replace")
    code = "timeout after {timeout_s} s"
if len(out) > {max_chars}:
    out = "[... " + str(len(out) - {max_chars}) + " characters cut ...]\\n" + out[-{max_chars}:]
print(out)
print("[exit status:", code, "]")
"""
    return _cell(body, {"path": path})
