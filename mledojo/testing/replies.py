"""The scripted server's vocabulary: replies (answers and faults) and recorded requests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ReplyKind = Literal["text", "json", "tool_call", "error", "raw"]
Api = Literal["chat", "responses", "messages"]
PATHS: dict[str, Api] = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}


class ScriptedUsage(BaseModel):
    """Token counts the server reports for a reply (in each format's own fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = 11
    output_tokens: int = 7
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class Reply(BaseModel):
    """One scripted answer; build it with the class methods."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ReplyKind
    text: str = ""
    data: Any = None
    tool_name: str | None = None
    status: int = 200
    retry_after: str | None = None
    body: bytes = b""
    delay_s: float = Field(default=0.0, ge=0)
    truncate_stream: bool = False
    cut: bool = False
    usage: ScriptedUsage = ScriptedUsage()

    @classmethod
    def say(cls, text: str, **kw: Any) -> Reply:
        """Plain assistant text."""
        return cls(kind="text", text=text, **kw)

    @classmethod
    def structured(cls, data: Any, **kw: Any) -> Reply:
        """A structured answer: JSON text, or the forced tool's input for Anthropic tool use."""
        return cls(kind="json", data=data, **kw)

    @classmethod
    def tool_call(cls, name: str, arguments: dict[str, Any], **kw: Any) -> Reply:
        """A call of the named tool with these arguments."""
        return cls(kind="tool_call", tool_name=name, data=arguments, **kw)

    @classmethod
    def error(cls, status: int, message: str = "", *, retry_after: str | None = None) -> Reply:
        """An HTTP error in the endpoint's own error shape (optionally with Retry-After)."""
        return cls(
            kind="error",
            status=status,
            text=message or f"scripted {status}",
            retry_after=retry_after,
        )

    @classmethod
    def raw(cls, body: bytes, *, status: int = 200) -> Reply:
        """These exact bytes as a JSON-typed body (e.g. malformed JSON)."""
        return cls(kind="raw", body=body, status=status)

    def slow(self, delay_s: float) -> Reply:
        """The same reply, sent after `delay_s` seconds (aborted if the client hangs up)."""
        return self.model_copy(update={"delay_s": delay_s})

    def cut_at_limit(self) -> Reply:
        """The same reply, marked as stopped by the request's output-token limit."""
        return self.model_copy(update={"cut": True})

    def truncated(self) -> Reply:
        """The same reply, but a streamed one stops mid-body without its terminator."""
        return self.model_copy(update={"truncate_stream": True})


class RecordedRequest(BaseModel):
    """What the server received (headers lower-cased; `body` is None if not JSON)."""

    model_config = ConfigDict(frozen=True)

    api: Api | None
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
