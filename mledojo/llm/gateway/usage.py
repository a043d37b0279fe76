"""Token counts from a provider's reply: a whole JSON body, or the events of a stream.

A reply that reports no usable usage (a local server that omits it, a hostile upstream that
sends negative or non-numeric counts) is charged an estimate from its size (4 bytes a token),
so leaving usage out never makes a call free.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from mledojo.llm.gateway.shapes import Route

BYTES_PER_TOKEN = 4


class Tokens(BaseModel):
    """One exchange's token counts (`estimated`: the upstream gave none, sizes were used)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def tokens_of_body(route: Route, body: Any) -> Tokens | None:
    """The usage a non-streamed reply body reports, or None when it reports none usable."""
    usage = _dig(body, "usage")
    if not isinstance(usage, dict):
        return None
    if route == "chat":
        inp, out = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
        cached = _dig(usage, "prompt_tokens_details", "cached_tokens")
        reasoning = _dig(usage, "completion_tokens_details", "reasoning_tokens")
    elif route == "responses":
        inp, out = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
        cached = _dig(usage, "input_tokens_details", "cached_tokens")
        reasoning = _dig(usage, "output_tokens_details", "reasoning_tokens")
    else:
        # Anthropic's input_tokens excludes cache reads and writes; ours counts every prompt token.
        base, out = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
        cached = _count(usage.get("cache_read_input_tokens")) or 0
        written = _count(usage.get("cache_creation_input_tokens")) or 0
        inp = None if base is None else base + cached + written
        reasoning = 0
    if inp is None or out is None:
        return None
    return Tokens(
        input_tokens=inp,
        output_tokens=out,
        cached_tokens=min(_count(cached) or 0, inp),
        reasoning_tokens=min(_count(reasoning) or 0, out),
    )


def estimate(request_bytes: int, reply_bytes: int) -> Tokens:
    """A size-based charge for a reply that reported no usage."""
    return Tokens(
        input_tokens=-(-request_bytes // BYTES_PER_TOKEN),
        output_tokens=-(-reply_bytes // BYTES_PER_TOKEN),
        estimated=True,
    )


class StreamUsage:
    """Reads the usage out of a stream's events as they pass (one `feed` per SSE event)."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self._found: Tokens | None = None
        self._anthropic_input: dict[str, Any] = {}
        self._anthropic_output: int | None = None

    def feed(self, event: bytes) -> None:
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                self._data(line[5:].strip())

    def _data(self, raw: bytes) -> None:
        if not raw or raw == b"[DONE]":
            return
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return
        if not isinstance(data, dict):
            return
        if self.route == "chat":
            found = tokens_of_body("chat", data)
        elif self.route == "responses":
            found = tokens_of_body("responses", _dig(data, "response"))
        else:
            found = self._anthropic(data)
        if found is not None:
            self._found = found

    def _anthropic(self, data: dict[str, Any]) -> Tokens | None:
        start = _dig(data, "message", "usage")
        if data.get("type") == "message_start" and isinstance(start, dict):
            self._anthropic_input = start
        delta = _dig(data, "usage", "output_tokens")
        if data.get("type") == "message_delta" and _count(delta) is not None:
            self._anthropic_output = _count(delta)
        if not self._anthropic_input or self._anthropic_output is None:
            return None
        usage = {**self._anthropic_input, "output_tokens": self._anthropic_output}
        return tokens_of_body("messages", {"usage": usage})

    @property
    def tokens(self) -> Tokens | None:
        """The stream's usage, once an event reported it (the last report wins)."""
        return self._found
