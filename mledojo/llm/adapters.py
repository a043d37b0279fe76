"""The three wire formats, each sent through its official SDK (imported lazily).

An adapter turns an `LLMRequest` into one SDK call and the provider's reply into a
`WireReply`. Structured requests use each SDK's own schema machinery: `chat.completions.parse`
(`response_format`) and `responses.parse` (`text_format`) for OpenAI, a forced tool for
Anthropic. Replies are read from the raw body, so a reply that fails the schema is still
available for the repair round. The SDKs' own retries are off: the client retries itself.
"""

from __future__ import annotations

import importlib
import json
import threading
from typing import Any, Protocol

from pydantic import BaseModel

from mledojo.llm.errors import SDKNotInstalledError
from mledojo.llm.models import ModelRef
from mledojo.llm.prices import PriceTable
from mledojo.llm.record import LLMRequest, WireReply


def import_sdk(package: str) -> Any:
    """The SDK module, or `SDKNotInstalledError` with the install hint."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise SDKNotInstalledError(package) from None


class ApiAdapter(Protocol):
    """Sends one request through an SDK client made by `open_client`."""

    def open_client(self, *, api_key: str, base_url: str | None, timeout_s: float) -> Any: ...

    async def send(
        self, sdk: Any, request: LLMRequest, schema: type[BaseModel] | None, timeout_s: float
    ) -> WireReply: ...


MAX_TOKENS_COUNTED = 10**12


def _int(value: Any) -> int:
    """A token count from a reply: a non-negative integer, else 0; an absurd one is malformed
    (it would overflow the price arithmetic)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return 0
    if value > MAX_TOKENS_COUNTED:
        raise MalformedReplyError(f"the reply counts more than {MAX_TOKENS_COUNTED} tokens")
    return value


def _str(value: Any) -> str | None:
    """A short text field of a reply (finish reason, refusal), else None."""
    return value if isinstance(value, str) and value else None


def _get(body: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(key, int):
            body = body[key] if isinstance(body, list) and len(body) > key else None
        else:
            body = body.get(key) if isinstance(body, dict) else None
    return body


def _raw_body(raw: Any) -> dict[str, Any]:
    """The reply's JSON body; a body that is not a JSON object raises `MalformedReplyError`."""
    try:
        body = json.loads(raw.http_response.content, parse_constant=_refuse_constant)
    except ValueError:
        raise MalformedReplyError("the reply body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedReplyError("the reply body is not a JSON object")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN / Infinity: Python accepts them, JSON does not


class MalformedReplyError(Exception):
    """The provider answered 2xx with a body that is not the format's JSON (retried)."""


class _SDKAdapter:
    """What the three adapters share: the model, the prices and one TLS context.

    The SDK client is made per call (its connections die with the call's event loop), but
    the TLS context, whose certificate loading costs ~60 ms, is made once per adapter.
    """

    package: str
    client_class: str

    def __init__(self, model: ModelRef, prices: PriceTable) -> None:
        self.model = model
        self.prices = prices
        self._tls: Any = None
        self._tls_lock = threading.Lock()

    def open_client(self, *, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        sdk = import_sdk(self.package)
        with self._tls_lock:
            if self._tls is None:
                self._tls = import_sdk("httpx2").create_ssl_context()
        http = sdk.DefaultAsyncHttpxClient(verify=self._tls, timeout=timeout_s)
        make = getattr(sdk, self.client_class)
        return make(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0, http_client=http
        )


class OpenAIChat(_SDKAdapter):
    """OpenAI Chat Completions (any OpenAI-compatible server: vLLM, Ollama, llama.cpp)."""

    package = "openai"
    client_class = "AsyncOpenAI"

    async def send(
        self, sdk: Any, request: LLMRequest, schema: type[BaseModel] | None, timeout_s: float
    ) -> WireReply:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_output_tokens,
            "timeout": timeout_s,
        }
        if schema is not None and request.structured == "native":
            raw = await sdk.chat.completions.with_raw_response.parse(
                response_format=schema, **kwargs
            )
        else:
            raw = await sdk.chat.completions.with_raw_response.create(**kwargs)
        body = _raw_body(raw)
        message = _get(body, "choices", 0, "message")
        if not isinstance(message, dict):
            raise MalformedReplyError("the reply has no choices[0].message")
        usage = _get(body, "usage") or {}
        return WireReply(
            text=str(message.get("content") or ""),
            refusal=_str(message.get("refusal")),
            finish_reason=_str(_get(body, "choices", 0, "finish_reason")),
            cut_at_limit=_get(body, "choices", 0, "finish_reason") == "length",
            usage=self.prices.usage(
                self.model,
                input_tokens=_int(usage.get("prompt_tokens")),
                output_tokens=_int(usage.get("completion_tokens")),
                cached_tokens=_int(_get(usage, "prompt_tokens_details", "cached_tokens")),
                reasoning_tokens=_int(_get(usage, "completion_tokens_details", "reasoning_tokens")),
            ),
            body=body,
        )


class OpenAIResponses(_SDKAdapter):
    """OpenAI's Responses API (the default for `openai/...` models)."""

    package = "openai"
    client_class = "AsyncOpenAI"

    async def send(
        self, sdk: Any, request: LLMRequest, schema: type[BaseModel] | None, timeout_s: float
    ) -> WireReply:
        items = [{"role": m.role, "content": m.content} for m in request.messages]
        kwargs: dict[str, Any] = {
            "model": request.model,
            "input": items,
            "store": False,
            "max_output_tokens": request.max_output_tokens,
            "timeout": timeout_s,
        }
        if schema is not None and request.structured == "native":
            raw = await sdk.responses.with_raw_response.parse(text_format=schema, **kwargs)
        else:
            raw = await sdk.responses.with_raw_response.create(**kwargs)
        body = _raw_body(raw)
        output = body.get("output")
        if not isinstance(output, list):
            raise MalformedReplyError("the reply has no output list")
        texts: list[str] = []
        refusals: list[str] = []
        for item in output:
            if _get(item, "type") != "message":
                continue  # reasoning summaries and other items carry no answer
            for part in _get(item, "content") or []:
                if _get(part, "type") == "output_text":
                    texts.append(str(_get(part, "text") or ""))
                elif _get(part, "type") == "refusal":
                    refusals.append(str(_get(part, "refusal") or ""))
        usage = body.get("usage") or {}
        return WireReply(
            text="".join(texts),
            refusal="".join(refusals) or None,
            finish_reason=str(body.get("status")) if body.get("status") else None,
            cut_at_limit=_get(body, "incomplete_details", "reason") == "max_output_tokens",
            usage=self.prices.usage(
                self.model,
                input_tokens=_int(usage.get("input_tokens")),
                output_tokens=_int(usage.get("output_tokens")),
                cached_tokens=_int(_get(usage, "input_tokens_details", "cached_tokens")),
                reasoning_tokens=_int(_get(usage, "output_tokens_details", "reasoning_tokens")),
            ),
            body=body,
        )


class AnthropicMessages(_SDKAdapter):
    """Anthropic's Messages API; structured output through one forced tool."""

    package = "anthropic"
    client_class = "AsyncAnthropic"

    async def send(
        self, sdk: Any, request: LLMRequest, schema: type[BaseModel] | None, timeout_s: float
    ) -> WireReply:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns = [
            {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
        ]
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": turns,
            "max_tokens": request.max_output_tokens,
            "timeout": timeout_s,
        }
        if system:
            kwargs["system"] = system
        if (
            request.structured == "native"
            and request.schema_name
            and request.json_schema is not None
        ):
            kwargs["tools"] = [
                {
                    "name": request.schema_name,
                    "description": f"Record the answer as a {request.schema_name}.",
                    "input_schema": request.json_schema,
                }
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": request.schema_name}
        raw = await sdk.messages.with_raw_response.create(**kwargs)
        body = _raw_body(raw)
        content = body.get("content")
        if not isinstance(content, list):
            raise MalformedReplyError("the reply has no content list")
        texts = [str(_get(b, "text") or "") for b in content if _get(b, "type") == "text"]
        tool_input = next(
            (
                _get(b, "input")
                for b in content
                if _get(b, "type") == "tool_use" and _get(b, "name") == request.schema_name
            ),
            None,
        )
        usage = body.get("usage") or {}
        cache_read = _int(usage.get("cache_read_input_tokens"))
        # Anthropic's input_tokens excludes cache reads and writes; ours counts every prompt token.
        input_tokens = (
            _int(usage.get("input_tokens"))
            + cache_read
            + _int(usage.get("cache_creation_input_tokens"))
        )
        return WireReply(
            text="".join(texts),
            tool_input=tool_input if isinstance(tool_input, dict) else None,
            refusal="refused" if body.get("stop_reason") == "refusal" else None,
            finish_reason=_str(body.get("stop_reason")),
            cut_at_limit=body.get("stop_reason") == "max_tokens",
            usage=self.prices.usage(
                self.model,
                input_tokens=input_tokens,
                output_tokens=_int(usage.get("output_tokens")),
                cached_tokens=cache_read,
            ),
            body=body,
        )


def adapter_for(model: ModelRef, prices: PriceTable) -> ApiAdapter:
    """The adapter speaking the model's wire format."""
    if model.api == "openai-responses":
        return OpenAIResponses(model, prices)
    if model.api == "anthropic-messages":
        return AnthropicMessages(model, prices)
    return OpenAIChat(model, prices)
