"""The runner protocol's requests, typed and versioned (the host side).

Each request is one length-prefixed JSON frame to `_runner.py` (which cannot import
mledojo, so it checks the same fields itself); `PROTOCOL_VERSION` is what `ping` answers,
and a host refuses a runner of another version. Replies are turned into `ExecResult`,
`ToolResult` or bytes by `client.RunnerSandbox`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mledojo.sandbox._runner import MAX_READ_BYTES, PROTOCOL_VERSION

__all__ = [
    "PROTOCOL_VERSION",
    "ExecRequest",
    "PingRequest",
    "ReadRequest",
    "Request",
    "ToolRequest",
]


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
