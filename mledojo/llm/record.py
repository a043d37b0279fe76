"""The record of an episode's LLM calls (`llm-calls.jsonl`) and its deterministic replay.

One line per request sent to a model (a fallback or repair round is its own line): the
request in the layer's own terms, the reply (text or tool input, usage, the provider's body
as received), the failed attempts before it, or the final error. Lines are canonical JSON
(sorted keys, no spaces), so replaying an episode that records again writes the same bytes.
API keys are redacted from every line before it is written.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mledojo.llm.errors import LLMReplayError
from mledojo.llm.models import Api, CallUsage, Message

RECORD_FILE = "llm-calls.jsonl"
RECORD_VERSION = 1
REDACTED = "[redacted]"
Round = Literal["first", "fallback", "repair"]
StructuredMode = Literal["native", "prompt"]


class LLMRequest(BaseModel):
    """What one request asks of the model, independent of the SDK that sends it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api: Api
    model: str
    messages: list[Message]
    schema_name: str | None = None
    json_schema: dict[str, Any] | None = None
    # "native": the API's own structured output (OpenAI json_schema, Anthropic forced tool);
    # "prompt": the schema is in the messages and the text reply is validated as JSON.
    structured: StructuredMode | None = None
    max_output_tokens: int = Field(gt=0)


class WireReply(BaseModel):
    """A model's answer to one request, normalised across the three wire formats."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = ""
    tool_input: dict[str, Any] | None = None
    refusal: str | None = None
    finish_reason: str | None = None
    cut_at_limit: bool = False  # stopped by max_output_tokens: the answer is incomplete
    usage: CallUsage
    body: dict[str, Any] = Field(default_factory=dict)


class Attempt(BaseModel):
    """One failed attempt that was retried: why, and how long the client waited after it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    error: str
    status: int | None = None
    waited_s: float = 0.0


class RecordedError(BaseModel):
    """The error a request ended with (replay raises it again)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["call", "timeout"]
    message: str
    status: int | None = None
    attempts: int = 1


class CallRecord(BaseModel):
    """One line of `llm-calls.jsonl`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = RECORD_VERSION
    call: int = Field(ge=1)
    purpose: str
    round: Round
    request: LLMRequest
    reply: WireReply | None = None
    error: RecordedError | None = None
    attempts: list[Attempt] = Field(default_factory=list)

    def key(self) -> dict[str, Any]:
        """What a replayed request must equal to reuse this record."""
        return {
            "purpose": self.purpose,
            "round": self.round,
            "request": self.request.model_dump(mode="json"),
        }


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced (secrets shorter than 8 characters are ignored)."""
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    return text


def canonical_line(record: CallRecord, secrets: list[str]) -> str:
    """The record as one canonical JSON line, secrets redacted."""
    text = json.dumps(
        record.model_dump(mode="json"),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )
    return redact(text, secrets) + "\n"


class Recorder:
    """Appends call records to `<record_dir>/llm-calls.jsonl`: one write per line, under a lock,
    to a file only its owner can read (prompts describe the competition's data)."""

    def __init__(self, record_dir: Path, secrets: list[str]) -> None:
        record_dir.mkdir(parents=True, exist_ok=True)
        self.path = record_dir / RECORD_FILE
        self._secrets = secrets
        self._lock = threading.Lock()

    def append(self, record: CallRecord) -> None:
        data = canonical_line(record, self._secrets).encode("utf-8")
        with self._lock:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.path, flags, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)


def load_records(path: Path) -> list[CallRecord]:
    """Every record of a recording; a bad line is named by its number."""
    if not path.is_file():
        raise LLMReplayError(
            f"No LLM recording at {path}: replay needs the `{RECORD_FILE}` of a recorded run."
        )
    records: list[CallRecord] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(CallRecord.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            raise LLMReplayError(
                f"{path} line {number}: {where}: {first['msg']}. The recording is damaged or "
                f"of another version (this one reads v{RECORD_VERSION})."
            ) from None
    return records


def first_difference(recorded: Any, now: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first field (dotted path) where two JSON values differ, with both values."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        for k in sorted(set(recorded) | set(now)):
            sub = f"{path}.{k}" if path else str(k)
            if k not in recorded or k not in now:
                return sub, recorded.get(k, "<absent>"), now.get(k, "<absent>")
            found = first_difference(recorded[k], now[k], sub)
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(now, list):
        for i, (a, b) in enumerate(zip(recorded, now, strict=False)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        if len(recorded) != len(now):
            return f"{path} (length)", len(recorded), len(now)
        return None
    return None if recorded == now else (path, recorded, now)


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Replayer:
    """Serves recorded replies to requests equal to the recorded ones, each record once.

    A request is matched to the first unused record with the same purpose, round and
    request, so experiments that ran concurrently replay in any order (and are re-recorded in
    the recorded order). A request that no
    record matches is a divergence: the error names this run's call number and the first
    field that differs from the nearest unused record (same purpose first).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = load_records(path)
        self._keys = [r.key() for r in self.records]  # computed once, compared on every call
        self._used = [False] * len(self.records)
        self._written = 0
        self._lock = threading.Lock()

    def take(self, call: int, candidate: CallRecord, recorder: Recorder | None) -> CallRecord:
        """The recorded call equal to `candidate`; it is also written to `recorder`, in the
        recording's own order (so concurrent calls re-record the very same bytes)."""
        want = candidate.key()
        with self._lock:
            for i, record in enumerate(self.records):
                if not self._used[i] and self._keys[i] == want:
                    self._used[i] = True
                    if recorder is not None:
                        self._write_in_order(recorder)
                    return record
            unused = [i for i, used in enumerate(self._used) if not used]
        if not unused:
            raise LLMReplayError(
                f"LLM replay diverged at call {call} ({candidate.purpose}): the recording "
                f"{self.path} holds {len(self.records)} calls and all were replayed already."
            )
        nearest = next(
            (i for i in unused if self.records[i].purpose == candidate.purpose), unused[0]
        )
        record = self.records[nearest]
        diff = first_difference(self._keys[nearest], want) or ("request", "?", "?")
        field, was, now = diff
        raise LLMReplayError(
            f"LLM replay diverged at call {call} ({candidate.purpose}): `{field}` differs from "
            f"recorded call {record.call} in {self.path}: recorded {_short(was)}, "
            f"now {_short(now)}."
        )

    def _write_in_order(self, recorder: Recorder) -> None:
        """Append every taken record not yet written whose predecessors are all written."""
        while self._written < len(self.records) and self._used[self._written]:
            recorder.append(self.records[self._written])
            self._written += 1
