"""`UsageMeter`: running totals of an episode's LLM use, and its hard budgets."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from mledojo.llm.errors import LLMBudgetExceeded
from mledojo.llm.models import CallUsage


class UsageTotals(BaseModel):
    """What an episode has spent so far (`unpriced_calls`: calls whose dollars are unknown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    usd: float = 0.0
    calls: int = 0
    unpriced_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class UsageMeter:
    """Sums `CallUsage` and refuses a new call once a hard budget is used up.

    Tokens count input plus output (cached and reasoning tokens are parts of those).
    The check runs before a call, so the last call may overshoot a budget by its own size;
    no call starts after that. Thread-safe: concurrent experiments share one meter.

    `on_charge` is told of every charged reply, including ones the caller never gets as a
    value (a structured reply that failed validation twice was still billed): an episode
    that counts through it counts every call the provider billed.
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        max_usd: float | None = None,
        *,
        on_charge: Callable[[CallUsage], None] | None = None,
    ) -> None:
        if max_tokens is not None and max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        if max_usd is not None and max_usd < 0:
            raise ValueError(f"max_usd must be >= 0, got {max_usd}")
        self.max_tokens = max_tokens
        self.max_usd = max_usd
        self._on_charge = on_charge
        self._lock = threading.Lock()
        self._totals = UsageTotals()

    @property
    def totals(self) -> UsageTotals:
        with self._lock:
            return self._totals

    def exhausted(self) -> str | None:
        """Which budget is used up ("tokens"/"usd"), or None while both have room."""
        t = self.totals
        if self.max_tokens is not None and t.total_tokens >= self.max_tokens:
            return "tokens"
        if self.max_usd is not None and t.usd >= self.max_usd:
            return "usd"
        return None

    def check(self) -> None:
        """Raise `LLMBudgetExceeded` when a hard budget leaves no room for another call."""
        which = self.exhausted()
        if which is None:
            return
        t = self.totals
        if which == "tokens":
            spent = f"{t.total_tokens} of {self.max_tokens} tokens"
        else:
            spent = f"${t.usd:.4f} of ${self.max_usd:.4f}"
        raise LLMBudgetExceeded(
            f"LLM budget used up: {spent} after {t.calls} calls. No further LLM call is made; "
            "raise the budget to continue."
        )

    def charge(self, usage: CallUsage) -> UsageTotals:
        """Add one call's usage; returns the new totals."""
        with self._lock:
            t = self._totals
            self._totals = UsageTotals(
                input_tokens=t.input_tokens + usage.input_tokens,
                output_tokens=t.output_tokens + usage.output_tokens,
                cached_tokens=t.cached_tokens + usage.cached_tokens,
                reasoning_tokens=t.reasoning_tokens + usage.reasoning_tokens,
                usd=t.usd + (usage.usd or 0.0),
                calls=t.calls + usage.calls,
                unpriced_calls=t.unpriced_calls + (usage.calls if usage.usd is None else 0),
            )
            totals = self._totals
        if self._on_charge is not None:
            self._on_charge(usage)
        return totals
