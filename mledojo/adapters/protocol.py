"""The JSON-lines protocol between a wrapped agent's driver and the host (pydantic models).

The driver asks, the host answers: one request per line on the driver's request pipe, one
reply per line on its reply pipe. Every request is hostile: it is read with a byte bound,
parsed as JSON, then validated against these models (unknown ops and unknown fields are
refused). The driver side of the wire is `client/mledojo_bridge.py` (standard library only,
since it runs in the agent's own venv).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from mledojo.types import MAX_CODE_CHARS

MAX_REQUEST_BYTES = 1 << 20  # one request line, newline included
MAX_COMMAND_CHARS = 100_000
MAX_REASON_CHARS = 4_000
MAX_TIMEOUT_S = 24 * 3600.0


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskRequest(_Request):
    """The task: competition, metric, files, instructions (the reset observation's text)."""

    op: Literal["task"]


class BashRequest(_Request):
    """Run a bash command in the episode's sandbox (cwd `/workspace`); output and exit code."""

    op: Literal["bash"]
    command: str = Field(min_length=1, max_length=MAX_COMMAND_CHARS)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)


class PythonRequest(_Request):
    """Run Python code as one cell of the sandbox's `execute_code`."""

    op: Literal["python"]
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)


class SubmitRequest(_Request):
    """End the episode: grade `path` (workspace-relative) or the best valid submission so far."""

    op: Literal["submit"]
    path: str | None = Field(default=None, max_length=1024)


class FailRequest(_Request):
    """The agent gives up: the episode ends as `agent_error` (the best submission is graded)."""

    op: Literal["fail"]
    reason: str = Field(max_length=MAX_REASON_CHARS)


class NoteRequest(_Request):
    """A short note for the run's report (`AgentOutcome.notes`)."""

    op: Literal["note"]
    text: str = Field(max_length=MAX_REASON_CHARS)


Request = Annotated[
    TaskRequest | BashRequest | PythonRequest | SubmitRequest | FailRequest | NoteRequest,
    Field(discriminator="op"),
]
REQUEST_ADAPTER: TypeAdapter[Request] = TypeAdapter(Request)
OPS = ("task", "bash", "python", "submit", "fail", "note")


class Reply(BaseModel):
    """The host's answer to one request (`ok=False`: refused, `error` says why)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    error: str = ""
    output: str = ""
    returncode: int | None = None
    status: str = ""
    info: str = ""
    public_score: float | None = None
    steps_left: int | None = None
    time_left_s: float | None = None
    episode_over: bool = False
    task: dict[str, Any] | None = None
    instructions: str = ""


class ProtocolError(Exception):
    """A request line the host refuses (bad JSON, schema, unknown op); says why."""


def parse_request(line: bytes) -> Request:
    """One request line as a model, or `ProtocolError` naming what is wrong with it."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise ProtocolError("the request is not one line of JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("the request must be a JSON object with an `op`")
    op = data.get("op")
    if op not in OPS:
        raise ProtocolError(f"unknown op {str(op)[:40]!r}; the ops are {', '.join(OPS)}")
    try:
        return REQUEST_ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "request"
        raise ProtocolError(f"op {op}: {where}: {first['msg']}") from None
