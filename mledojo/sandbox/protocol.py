"""The runner protocol's requests, typed and versioned (the host side).

Each request is one length-prefixed JSON frame to `_runner.py` (which cannot import
mledojo, so it checks the same fields itself); `PROTOCOL_VERSION` is what `ping` answers,
and a host refuses a runner of another version. Replies are turned into `ExecResult`,
`ToolResult` or bytes by `client.RunnerSandbox`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mledojo.sandbox._runner import (
    MAX_READ_BYTES,
    MAX_VERSION_CHARS,
    MAX_VERSION_NAME_CHARS,
    MAX_VERSIONS,
    PROTOCOL_VERSION,
)

__all__ = [
    "PROTOCOL_VERSION",
    "ExecRequest",
    "PingRequest",
    "ReadRequest",
    "Request",
    "ToolRequest",
    "runner_versions",
]

_VERSION_NAME = re.compile(rf"[a-z0-9][a-z0-9._-]{{0,{MAX_VERSION_NAME_CHARS - 1}}}")
_VERSION = re.compile(rf"[A-Za-z0-9][A-Za-z0-9.+!_-]{{0,{MAX_VERSION_CHARS - 1}}}")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PingRequest(_Request):
    """Is the runner alive, which protocol does it speak, which imports are warm?"""

    op: Literal["ping"] = "ping"


class ExecRequest(_Request):
    """Run one code cell in a fresh child."""

    op: Literal["exec"] = "exec"
    code: str
    timeout_s: float = Field(gt=0)
    output_bytes: int = Field(gt=0)


class ToolRequest(_Request):
    """Run one trusted tool in a fresh child (JSON in, JSON out)."""

    op: Literal["tool"] = "tool"
    name: str
    args: dict[str, Any]
    ledger: dict[str, str] | None = None
    timeout_s: float = Field(gt=0)
    output_bytes: int = Field(gt=0)


class ReadRequest(_Request):
    """Read a regular workspace file beneath the workspace, following no symlink."""

    op: Literal["read"] = "read"
    path: str  # agent-chosen: the runner alone judges it (one place for the path rules)
    max_bytes: int = Field(gt=0, le=MAX_READ_BYTES)


Request = Annotated[
    PingRequest | ExecRequest | ToolRequest | ReadRequest, Field(discriminator="op")
]


def runner_versions(value: object) -> dict[str, str]:
    """The `versions` of a ping reply as they may enter a result: name -> version.

    What a runner sends is checked like anything from the sandbox: a mapping of at most
    `MAX_VERSIONS` entries, each a short distribution name (lower case, as the runner
    normalises it) and a short version string; anything else is dropped, so a result never
    carries more than about 85 KB of them, nor control characters or markup.
    """
    if not isinstance(value, dict):
        return {}
    kept: dict[str, str] = {}
    for name, version in value.items():
        if len(kept) >= MAX_VERSIONS:
            break
        if (
            isinstance(name, str)
            and isinstance(version, str)
            and _VERSION_NAME.fullmatch(name)
            and _VERSION.fullmatch(version)
        ):
            kept[name] = version
    return kept
