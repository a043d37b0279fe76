"""The command policy: what the actor may write and run, checked on the host before any step.

A second line behind the container, not a replacement for it: the container bounds what a
step can do; the policy keeps the actor to the moves the loop expects (write its own source
files in the workspace, run its own Python scripts) and logs every refusal, so an actor that
tries to leave the workspace, rewrite the loop's history or reach the network is seen, not
just contained. Nothing here runs anything.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mledojo.hillclimb.models import FileWrite, Implementation

POLICY_LOG = "policy.jsonl"
WRITABLE_SUFFIXES = (".py", ".txt", ".json", ".yaml", ".yml", ".cfg", ".toml", ".md")
LOOP_FILES = ("submission.csv", "task.json", ".gitignore")  # the loop's, never the actor's
PYTHONS = ("python", "python3")
_SHELL = re.compile(r"[;&|<>`$(){}\n\r\\*?!~]")
_ARG = re.compile(r"^[A-Za-z0-9_.,:=+/@%-]*$")

RefusalKind = Literal["file", "command"]


class Refusal(BaseModel):
    """One write or command the policy refused, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: RefusalKind
    item: str
    reason: str


class Checked(BaseModel):
    """An implementation split into what may run and what was refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: list[FileWrite]
    commands: list[list[str]]
    refused: list[Refusal]


def _relative(path: str) -> PurePosixPath | str:
    """The path as a clean workspace-relative path, or the reason it is not one."""
    text = path.strip()
    if not text or "\x00" in text or "\\" in text:
        return "not a usable path"
    pure = PurePosixPath(text)
    if pure.is_absolute():
        return "absolute paths are outside the workspace"
    if ".." in pure.parts:
        return "`..` leaves the workspace"
    if ".git" in pure.parts:
        return "the loop owns the git history; .git is not writable"
    return pure


def file_refusal(write: FileWrite) -> str | None:
    """Why the actor may not write this file, or None."""
    pure = _relative(write.path)
    if isinstance(pure, str):
        return pure
    if str(pure) in LOOP_FILES:
        return f"{pure} is written by the loop (a submission must come from the scripts)"
    if pure.suffix not in WRITABLE_SUFFIXES:
        return f"only {', '.join(WRITABLE_SUFFIXES)} files may be written"
    return None


def command_argv(command: str) -> list[str] | str:
    """The command as an argv for `python <workspace script>.py [plain args]`, or the reason
    it is refused (no shell, no other program, nothing outside the workspace)."""
    if _SHELL.search(command):
        return "shell syntax is not allowed (no ; & | < > ` $ ( ) { } * ? ! ~ or newlines)"
    try:
        argv = shlex.split(command)
    except ValueError as e:
        return f"cannot be split into arguments: {e}"
    if not argv:
        return "empty command"
    if argv[0] not in PYTHONS:
        return f"only `python <script>.py` may run; `{argv[0][:60]}` is not allowed"
    if len(argv) < 2 or argv[1].startswith("-"):
        return "name a workspace script: `python <script>.py [args]` (no -c, -m or flags)"
    script = _relative(argv[1])
    if isinstance(script, str):
        return f"the script {argv[1][:120]!r}: {script}"
    if script.suffix != ".py":
        return f"the script {argv[1][:120]!r} is not a .py file"
    for arg in argv[2:]:
        if not _ARG.match(arg) or arg.startswith("/") or ".." in arg.split("/"):
            return f"the argument {arg[:120]!r} is not a plain workspace-relative value"
    return argv


def check(implementation: Implementation) -> Checked:
    """Split an implementation into the writes and commands the policy allows."""
    files: list[FileWrite] = []
    commands: list[list[str]] = []
    refused: list[Refusal] = []
    for write in implementation.files:
        reason = file_refusal(write)
        if reason is None:
            files.append(write)
        else:
            refused.append(Refusal(kind="file", item=write.path[:300], reason=reason))
    for command in implementation.commands:
        argv = command_argv(command[:1000])
        if isinstance(argv, str):
            refused.append(Refusal(kind="command", item=command[:300], reason=argv))
        else:
            commands.append(argv)
    return Checked(files=files, commands=commands, refused=refused)


def log_refusals(folder: Path, iteration: int, refused: list[Refusal]) -> None:
    """Append the refusals to the episode folder's policy log (one JSON object a line)."""
    if not refused:
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (folder / POLICY_LOG).open("a", encoding="utf-8") as f:
        for r in refused:
            f.write(json.dumps({"iteration": iteration, **r.model_dump()}) + "\n")
