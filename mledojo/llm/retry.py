"""Which failed attempts are retried, and how long to wait before the next one."""

from __future__ import annotations

import email.utils
import math
import random
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mledojo.llm.adapters import MalformedReplyError
from mledojo.llm.record import redact


class RetryPolicy(BaseModel):
    """How failed attempts (429, 5xx, timeouts, broken replies) are retried.

    Exponential backoff with full jitter, `base_s * 2**n` capped at `cap_s`. A `Retry-After`
    header is honoured exactly when at most `max_retry_after_s`; longer asks end the call.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_retries: int = Field(default=4, ge=0, le=20)
    base_s: float = Field(default=1.0, ge=0)
    cap_s: float = Field(default=30.0, ge=0)
    max_retry_after_s: float = Field(default=60.0, ge=0)

    def backoff(self, failures: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (failures - 1)))


class Failure(BaseModel):
    """A classified failed attempt."""

    kind: str  # "timeout" | "status" | "connection" | "malformed"
    message: str
    status: int | None = None
    retryable: bool
    retry_after_s: float | None = None


def retry_after(headers: Any) -> float | None:
    """Seconds asked by `retry-after-ms` / `retry-after` (seconds or an HTTP date)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def classify(exc: BaseException, sdk: Any, secrets: list[str]) -> Failure | None:
    """What went wrong in one attempt, or None when `exc` is not a provider failure."""
    if isinstance(exc, MalformedReplyError):
        return Failure(kind="malformed", message=str(exc), retryable=True)
    if isinstance(exc, sdk.APITimeoutError | TimeoutError):
        return Failure(kind="timeout", message="no reply within the timeout", retryable=True)
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        detail = redact(str(getattr(exc, "message", "") or ""), secrets)
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        return Failure(
            kind="status",
            status=status,
            message=f"HTTP {status}: {detail}",
            retryable=status in (408, 409, 429) or status >= 500,
            retry_after_s=retry_after(getattr(exc.response, "headers", None)),
        )
    if isinstance(exc, sdk.APIConnectionError):
        return Failure(kind="connection", message="connection failed or was cut", retryable=True)
    return None
