"""The loop's code cells: everything the agent does to the workspace runs in the sandbox.

Git runs inside the sandbox too (the runtime image has it): the workspace is the actor's,
hostile, and a repository there carries config, hooks and attributes that would run code if
the host's git opened it. Each cell gets its arguments as one JSON literal (never spliced into
code) and prints one result line, `RESULT_MARK` followed by JSON, that the host parses.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RESULT_MARK = "MLEDOJO-HILLCLIMB-RESULT "
TAIL_CHARS = 2_000  # of each script's output, in the result line
GITIGNORE = """\
submission.csv
__pycache__/
*.pyc
*.pkl
*.joblib
*.npy
*.npz
*.pt
*.bin
*.parquet
*.cbm
catboost_info/
"""

_PRELUDE = """
import json, os, subprocess, sys
ARGS = json.loads({args!r})
WORK = os.path.realpath(os.getcwd())
GIT = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
       "-c", "commit.gpgsign=false", "-c", "user.name=hill-climb",
       "-c", "user.email=hill-climb@mledojo.invalid"]
RESULT = {{}}

def git(*args):
    done = subprocess.run(GIT + list(args), cwd=WORK, capture_output=True, timeout=300)
    out = (done.stdout + done.stderr).decode("utf-8", "replace")
    if done.returncode != 0:
        raise RuntimeError("git " + " ".join(args) + " failed: " + out[-1000:])
    return out

def write(path, content):
    full = os.path.join(WORK, path)
    parent = os.path.realpath(os.path.dirname(full))
    if parent != WORK and not parent.startswith(WORK + os.sep):
        raise PermissionError(path + " resolves outside the workspace")
    os.makedirs(parent, exist_ok=True)
    if os.path.islink(full):
        os.unlink(full)
    fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)

def run(argv, timeout, smoke):
    env = dict(os.environ)
    env["MLEDOJO_SMOKE"] = "1" if smoke else "0"
    argv = [sys.executable] + list(argv[1:])
    try:
        done = subprocess.run(argv, cwd=WORK, capture_output=True, timeout=timeout, env=env)
        out, code = (done.stdout + done.stderr).decode("utf-8", "replace"), done.returncode
    except subprocess.TimeoutExpired as e:
        out = ((e.stdout or b"") + (e.stderr or b"")).decode("utf-8", "replace")
        code = "timeout after " + str(timeout) + " s"
    print(out[-20000:])
    return {{"argv": argv[1:], "exit": code, "tail": out[-{tail}:]}}

def finish():
    print({mark!r} + json.dumps(RESULT))
"""


class ScriptRun(BaseModel):
    """One script the cell ran: its argv, exit status and output tail."""

    model_config = ConfigDict(extra="ignore")

    argv: list[str]
    exit: int | str
    tail: str = ""


class CellResult(BaseModel):
    """What a cell reported on its result line."""

    model_config = ConfigDict(extra="ignore")

    ok: bool = False
    error: str = ""
    runs: list[ScriptRun] = Field(default_factory=list)
    log: str = ""


def _cell(body: str, args: dict[str, Any]) -> str:
    prelude = _PRELUDE.format(args=json.dumps(args), mark=RESULT_MARK, tail=TAIL_CHARS)
    wrapped = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return (
        prelude
        + "try:\n"
        + wrapped
        + "\nexcept Exception as e:\n"
        + '    RESULT["ok"] = False\n'
        + '    RESULT["error"] = (type(e).__name__ + ": " + str(e))[:2000]\n'
        + "finish()\n"
    )


def setup_code(files: dict[str, str]) -> str:
    """A fresh repository holding the loop's files (task, .gitignore, a baseline) as commit 1."""
    body = """
git("init", "-q")
for path, content in ARGS["files"].items():
    write(path, content)
git("add", "-A")
git("commit", "-q", "-m", "hill-climb: the starting point")
RESULT["log"] = git("log", "--oneline")[-4000:]
RESULT["ok"] = True
"""
    return _cell(body, {"files": {".gitignore": GITIGNORE, **files}})


def try_code(
    files: dict[str, str],
    commands: list[list[str]],
    entry: list[str],
    timeout_s: float,
    required: tuple[str, ...] = (),
) -> str:
    """Write the actor's files, compile them, check the `required` files exist, run its
    commands, then smoke-test the entry scripts on a small sample (`MLEDOJO_SMOKE=1`); ok
    when every run exits 0."""
    body = """
import py_compile
for path, content in ARGS["files"].items():
    write(path, content)
    if path.endswith(".py"):
        py_compile.compile(os.path.join(WORK, path), doraise=True)
missing = [p for p in ARGS["required"] if not os.path.isfile(os.path.join(WORK, p))]
if missing:
    raise FileNotFoundError("the solution lacks " + ", ".join(missing))
RESULT["runs"] = []
for argv in ARGS["commands"] + [["python", name] for name in ARGS["entry"]]:
    missing = not os.path.isfile(os.path.join(WORK, argv[1]))
    done = {"argv": argv, "exit": "missing", "tail": ""} if missing else run(
        argv, ARGS["timeout"], True)
    RESULT["runs"].append(done)
    if done["exit"] != 0:
        break
RESULT["ok"] = all(r["exit"] == 0 for r in RESULT["runs"])
"""
    args = {
        "files": files,
        "commands": commands,
        "entry": entry,
        "timeout": timeout_s,
        "required": list(required),
    }
    return _cell(body, args)


def train_code(entry: list[str], timeout_s: float) -> str:
    """Train and predict on the full data; the submission it writes is graded by the env."""
    body = """
if os.path.lexists(os.path.join(WORK, "submission.csv")):
    os.unlink(os.path.join(WORK, "submission.csv"))
RESULT["runs"] = []
for name in ARGS["entry"]:
    done = run(["python", name], ARGS["timeout"], False)
    RESULT["runs"].append(done)
    if done["exit"] != 0:
        break
RESULT["ok"] = all(r["exit"] == 0 for r in RESULT["runs"])
"""
    return _cell(body, {"entry": entry, "timeout": timeout_s})


def keep_code(message: str) -> str:
    """Commit the workspace as it is (an improvement)."""
    body = """
git("add", "-A")
git("commit", "-q", "--allow-empty", "-m", ARGS["message"])
RESULT["log"] = git("log", "--oneline")[-4000:]
RESULT["ok"] = True
"""
    return _cell(body, {"message": message[:500]})


def revert_code() -> str:
    """Put the workspace back to the last kept commit (a failure or no improvement)."""
    body = """
git("reset", "-q", "--hard", "HEAD")
git("clean", "-q", "-fdx")
RESULT["log"] = git("log", "--oneline")[-4000:]
RESULT["ok"] = True
"""
    return _cell(body, {})


def parse_result(stdout: str) -> CellResult | None:
    """The cell's result line (the last one carrying the mark), or None when it printed none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            try:
                return CellResult.model_validate(json.loads(line[len(RESULT_MARK) :]))
            except ValueError:
                return None
    return None
