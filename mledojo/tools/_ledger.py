"""The host's ledger of what the tools wrote: tool outputs the agent changed are refused.

Tool outputs carry their role in sidecars (`<handle>.meta.json`: train, valid or test), and
models and pipelines in JSON descriptions next to them. Agent code can rewrite any file in
`/workspace`, so a sidecar alone would let it relabel a test table as training data. The
host therefore keeps, per episode, the sha256 of every file a tool call wrote (the runner
reports them with the call's result) and hands that ledger to every later call. While a
ledger is active, a tool reads a sidecar, a description or a model only if the file is in
the ledger with the same digest, and a table with a sidecar only if the table is too.

No agent process runs during a tool call (each step ends with every process of the
sandbox's user killed), so the digests recorded at the end of a call are of the tool's own
bytes. Without a ledger (a tool called directly, as in unit tests) nothing is checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from ._base import ToolError


@dataclass
class Ledger:
    """Digests the host trusts (`known`) and the ones this call wrote (`written`)."""

    known: Mapping[str, str]
    written: dict[str, str] = field(default_factory=dict)

    def expected(self, key: str) -> str | None:
        return self.written.get(key) or self.known.get(key)


_ACTIVE: ContextVar[Ledger | None] = ContextVar("mledojo_tool_ledger", default=None)


@contextmanager
def ledger_of_call(known: Mapping[str, str] | None) -> Iterator[Ledger | None]:
    """Make `known` the ledger of one tool call (None: no checks); yields what it wrote."""
    ledger = Ledger(known=dict(known)) if known is not None else None
    token = _ACTIVE.set(ledger)
    try:
        yield ledger
    finally:
        _ACTIVE.reset(token)


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(key: str, digest: str) -> None:
    """Note that this call wrote `key` (a sandbox path) with these bytes."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.written[key] = digest


def read_vouched(key: str, real: Path) -> bytes:
    """The bytes of `real` (sandbox path `key`), if the ledger vouches for them."""
    content = real.read_bytes()
    verify(key, real, hashlib.sha256(content).hexdigest())
    return content


def vouched(key: str, content: bytes) -> bool:
    """Whether the ledger (if any) holds `key` with exactly `content`."""
    ledger = _ACTIVE.get()
    return ledger is None or ledger.expected(key) == hashlib.sha256(content).hexdigest()


def verify(key: str, real: Path, digest: str | None = None) -> None:
    """Refuse `key` unless a tool of this episode wrote exactly these bytes."""
    ledger = _ACTIVE.get()
    if ledger is None:
        return
    expected = ledger.expected(key)
    if expected is None:
        raise ToolError(
            f"{key} was not written by a tool in this episode; tools trust only their own "
            "outputs. Recreate it with the tool, or keep your own tables outside the tools' "
            "sidecars (a plain CSV or parquet file is read as raw data)."
        )
    if (digest or sha256(real)) != expected:
        raise ToolError(
            f"{key} was changed after the tool that wrote it; recreate it with that tool, or "
            "save your own version under another name (without a .meta.json it is raw data)"
        )
