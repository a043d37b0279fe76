"""The grading worker's wire format: length-prefixed frames of JSON (and submission bytes).

The worker grades hostile input and runs as `nobody`; the host that reads its replies is
root. A reply is therefore data, never code: a 4-byte big-endian length (at most
`MAX_REPLY_BYTES`), then UTF-8 JSON that must validate as `WorkerReply`. Nothing is
unpickled, so a compromised worker can at worst lie about one grade, not run code on the
host. Requests carry a JSON header (`WorkerRequest`) and then the submission's raw bytes.
"""

from __future__ import annotations

import os
import select
import struct
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mledojo.grading.scoring import GradeReport, Part

#: Largest reply the host reads: a `GradeReport` is a few KB; a message is capped below.
MAX_REPLY_BYTES = 1024 * 1024
#: Largest request frame the worker reads (the submission cap is far below).
MAX_REQUEST_BYTES = 512 * 1024 * 1024
MAX_MESSAGE_CHARS = 4000
_LENGTH = struct.Struct(">I")


class FrameError(Exception):
    """A frame was cut short, too long, late or not what was expected."""


class WorkerInit(BaseModel):
    """What the worker needs to build its `Scorer`: no secret, only specs and paths."""

    model_config = ConfigDict(extra="forbid")

    spec: dict[str, object]
    folder: str
    origin: str
    data: dict[str, object]
    max_bytes: int = Field(ge=1)


class WorkerRequest(BaseModel):
    """One grade or validation; the submission's bytes follow in the next frame."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["score", "validate"]
    part: Part
    display_name: str = Field(max_length=500)


class WorkerReply(BaseModel):
    """The worker's answer: `ready` after start-up, then one per request."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ready", "ok", "invalid", "error"]
    report: GradeReport | None = None
    message: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)


def write_frame(fd: int, payload: bytes) -> None:
    """Write one frame (length, then payload) to the descriptor `fd`."""
    data = _LENGTH.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_frame(fd: int, *, max_bytes: int, deadline: float | None = None) -> bytes:
    """Read one frame from `fd`, refusing one over `max_bytes` or not complete by `deadline`
    (a `time.monotonic()` value; None waits forever). EOF before a frame is `EOFError`."""
    head = _read_exactly(fd, _LENGTH.size, deadline, eof_ok=True)
    (size,) = _LENGTH.unpack(head)
    if size > max_bytes:
        raise FrameError(f"a frame of {size:,} bytes is over the {max_bytes:,}-byte limit")
    return _read_exactly(fd, size, deadline, eof_ok=False)


def _read_exactly(fd: int, n: int, deadline: float | None, *, eof_ok: bool) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no complete frame before the deadline")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            if eof_ok and got == 0:
                raise EOFError("the other end closed the pipe")
            raise FrameError(f"the pipe closed after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
