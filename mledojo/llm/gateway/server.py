"""`ModelGateway`: an OpenAI- and Anthropic-compatible endpoint on loopback for one episode.

A third-party agent is pointed at it by `base_url` (OpenAI SDK: `gateway.openai_base_url`,
Anthropic SDK: `gateway.anthropic_base_url`) with `gateway.client_token` as its API key. The
gateway forwards each call to the configured upstream (a provider, a local OpenAI-compatible
server, the scripted test server) with the real key, which the agent never holds; meters the
reply's tokens and dollars into the episode's `UsageMeter`; refuses calls once the budget is
used up, in the provider's own error shape; and records every exchange (`exchanges.py`).
Streams (server-sent events) and tool calls pass through unchanged. Request and reply sizes
are bounded: an oversized or malformed upstream reply becomes an error reply to the agent.
"""

from __future__ import annotations

import hmac
import http.client
import json
import os
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from mledojo.llm.errors import LLMBudgetExceeded, MissingAPIKeyError
from mledojo.llm.gateway.exchanges import EXCHANGES_FILE, REDACTED, ExchangeLog
from mledojo.llm.gateway.loopback import LoopbackService, send_reply
from mledojo.llm.gateway.shapes import (
    ROUTES,
    UPSTREAM_PATH,
    ErrorKind,
    Route,
    error_reply,
    is_anthropic,
    stream_error_event,
)
from mledojo.llm.gateway.usage import StreamUsage, Tokens, estimate, tokens_of_body
from mledojo.llm.meter import UsageMeter
from mledojo.llm.models import KEY_VARIABLE, ModelRef, Provider
from mledojo.llm.prices import PriceTable

ANTHROPIC_VERSION = "2023-06-01"
# Client headers passed upstream; every other one (Authorization, x-api-key, cookies) is dropped.
_FORWARDED_HEADERS = ("accept", "anthropic-version", "anthropic-beta", "openai-beta")
_MAX_MODEL_CHARS = 200
_MAX_DISCARD_BYTES = 64 << 20


class Upstream(BaseModel):
    """Where one wire family goes: the base URL the provider's SDK would use, and its key.

    OpenAI family: the URL ending in `/v1` (`/chat/completions`, `/responses` are appended);
    Anthropic: the root URL (`/v1/messages` is appended). `provider` prices the calls.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    provider: Provider
    api_key: SecretStr | None = None

    @classmethod
    def from_env(
        cls, provider: Provider, base_url: str, *, api_key_env: str | None = None
    ) -> Upstream:
        """The upstream with its key read from the host environment (the provider's usual
        variable, or `api_key_env`); a missing one fails fast naming the variable. A local
        OpenAI-compatible server needs no key unless `api_key_env` names one."""
        if provider == "openai-compatible" and api_key_env is None:
            return cls(base_url=base_url, provider=provider)
        variable = api_key_env or KEY_VARIABLE[provider]
        value = os.environ.get(variable, "").strip()
        if not value:
            raise MissingAPIKeyError(variable)
        return cls(base_url=base_url, provider=provider, api_key=SecretStr(value))

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream base_url must be an http(s) URL, got {value!r}")
        return value.rstrip("/")


class GatewayConfig(BaseModel):
    """The gateway's upstreams and bounds (bytes); None upstream: that family answers 404."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    openai: Upstream | None = None
    anthropic: Upstream | None = None
    max_request_bytes: int = Field(default=8 << 20, gt=0)
    max_reply_bytes: int = Field(default=16 << 20, gt=0)
    max_event_bytes: int = Field(default=1 << 20, gt=0)
    record_body_bytes: int = Field(default=256 << 10, ge=0)
    upstream_timeout_s: float = Field(default=600.0, gt=0)
    client_timeout_s: float = Field(default=300.0, gt=0)
    max_concurrent_calls: int = Field(default=8, gt=0)
    require_client_token: bool = True
    model_aliases: dict[str, str] = Field(default_factory=dict)
    """Model names the agent uses -> the upstream's names (an agent that picks its wire by
    the model's name, e.g. AIDE, is given a neutral alias); metered under the upstream name."""


class _Refusal(Exception):
    """A request the gateway answers itself with an error in the client's shape."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class ModelGateway(LoopbackService):
    """The episode's model endpoint on 127.0.0.1 (a random free port); see the module docstring."""

    thread_name = "mledojo-model-gateway"

    def __init__(
        self,
        config: GatewayConfig,
        *,
        meter: UsageMeter,
        prices: PriceTable | None = None,
        record_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.meter = meter
        self.prices = prices or PriceTable.default()
        self.client_token = "mledojo-gw-" + secrets.token_urlsafe(24)
        upstreams = (config.openai, config.anthropic)
        self._secrets = [
            u.api_key.get_secret_value() for u in upstreams if u is not None and u.api_key
        ]
        self.log: ExchangeLog | None = None
        if record_dir is not None:
            self.log = ExchangeLog(
                record_dir / EXCHANGES_FILE,
                secrets=self._secrets,
                max_body_bytes=config.record_body_bytes,
            )
        # calls in flight together each pass the budget check: this bounds the overshoot
        self._slots = threading.BoundedSemaphore(config.max_concurrent_calls)
        super().__init__(_handler_for(self))

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic SDK's `base_url`."""
        return self.base_url

    # helpers used by the handler ------------------------------------------------------
    def redact(self, data: bytes) -> bytes:
        """`data` with every key the gateway holds replaced (a hostile upstream may echo it)."""
        for secret in self._secrets:
            data = data.replace(secret.encode(), REDACTED.encode())
        return data

    def upstream_for(self, route: Route) -> Upstream:
        upstream = self.config.anthropic if route == "messages" else self.config.openai
        if upstream is None:
            family = "Anthropic" if route == "messages" else "OpenAI"
            raise _Refusal("not_found", f"no {family} upstream is configured for this episode")
        return upstream

    def admit(self, upstream: Upstream, model: str) -> ModelRef:
        """Refuse a call past the budget, or of a model whose dollars cannot be metered."""
        ref = ModelRef(provider=upstream.provider, name=model)
        if self.meter.max_usd is not None and self.prices.price_of(ref) is None:
            raise _Refusal(
                "bad_request",
                f"model `{ref}` has no price and this episode has a dollar budget; use a "
                "priced model (or add it to the price table on the host).",
            )
        try:
            self.meter.check()
        except LLMBudgetExceeded as exc:
            raise _Refusal("budget", str(exc)) from None
        return ref

    def charge(self, ref: ModelRef, tokens: Tokens) -> float | None:
        usage = self.prices.usage(
            ref,
            input_tokens=tokens.input_tokens,
            output_tokens=tokens.output_tokens,
            cached_tokens=tokens.cached_tokens,
            reasoning_tokens=tokens.reasoning_tokens,
        )
        self.meter.charge(usage)
        return usage.usd


def _connect(upstream: Upstream, timeout_s: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(upstream.base_url)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout_s)
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout_s)
    return conn, parts.path


def _handler_for(gateway: ModelGateway) -> type[BaseHTTPRequestHandler]:
    config = gateway.config

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = config.client_timeout_s  # a client that stalls mid-request frees its thread

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._refuse(None, "not_found", f"no endpoint GET {self.path}")

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            route = ROUTES.get(path)
            request = b""
            try:
                request = self._read_request()
                self._check_token()
                if route is None:
                    raise _Refusal("not_found", f"no endpoint POST {path}")
                self._forward(route, path, request)
            except _Refusal as refusal:
                self._refuse(route, refusal.kind, refusal.message, path=path, request=request)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception as exc:  # noqa: BLE001 - a request never kills the gateway silently
                self.close_connection = True
                message = f"internal error {type(exc).__name__}"
                self._refuse(route, "upstream", message, path=path, request=request)

        # the request ---------------------------------------------------------------
        def _read_request(self) -> bytes:
            if self.headers.get("transfer-encoding"):
                self.close_connection = True
                raise _Refusal("bad_request", "send the request body with a Content-Length")
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > config.max_request_bytes:
                self.close_connection = True
                self._discard(length)
                raise _Refusal(
                    "too_large",
                    f"request body must be 0..{config.max_request_bytes} bytes "
                    f"(Content-Length {self.headers.get('content-length')})",
                )
            return self.rfile.read(length) if length else b""

        def _discard(self, length: int) -> None:
            """Read and drop a refused body (up to a bound): closing a socket with unread
            bytes resets it, and the client would lose the error reply."""
            left = min(length, _MAX_DISCARD_BYTES)
            while left > 0 and (chunk := self.rfile.read(min(left, 1 << 16))):
                left -= len(chunk)

        def _check_token(self) -> None:
            if not config.require_client_token:
                return
            given = self.headers.get("x-api-key") or ""
            auth = self.headers.get("authorization") or ""
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not hmac.compare_digest(given.encode(), gateway.client_token.encode()):
                raise _Refusal("auth", "wrong API key: use the gateway's client token")

        # forwarding ----------------------------------------------------------------
        def _forward(self, route: Route, path: str, raw: bytes) -> None:
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):
                body = None
            model = body.get("model") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(model, str):
                raise _Refusal("bad_request", "the body must be a JSON object with a `model`")
            if not model.strip() or len(model) > _MAX_MODEL_CHARS:
                raise _Refusal("bad_request", f"`model` must be 1..{_MAX_MODEL_CHARS} characters")
            alias = config.model_aliases.get(model)
            if alias is not None:  # the upstream sees, and the meter prices, its own name
                body["model"] = model = alias
                raw = json.dumps(body).encode()
            stream = body.get("stream") is True
            upstream = gateway.upstream_for(route)
            if not gateway._slots.acquire(blocking=False):
                raise _Refusal(
                    "busy",
                    f"more than {config.max_concurrent_calls} calls at once; retry shortly",
                )
            try:
                self._admitted(route, path, raw, body, model, stream, upstream)
            finally:
                gateway._slots.release()

        def _admitted(
            self,
            route: Route,
            path: str,
            raw: bytes,
            body: dict[str, Any],
            model: str,
            stream: bool,
            upstream: Upstream,
        ) -> None:
            ref = gateway.admit(upstream, model)
            if route == "chat" and stream:
                # ask for the usage chunk, without which a stream could not be metered
                options = body.get("stream_options")
                body["stream_options"] = {
                    **(options if isinstance(options, dict) else {}),
                    "include_usage": True,
                }
                raw = json.dumps(body).encode()
            conn, prefix = _connect(upstream, config.upstream_timeout_s)
            try:
                try:
                    conn.request(
                        "POST", prefix + UPSTREAM_PATH[route], raw, self._headers(upstream)
                    )
                    reply = conn.getresponse()
                except (OSError, http.client.HTTPException) as exc:
                    raise _Refusal(
                        "upstream", f"upstream unreachable: {type(exc).__name__}"
                    ) from None
                ctype = reply.getheader("content-type") or ""
                if reply.status == 200 and ctype.startswith("text/event-stream"):
                    self._relay_stream(route, path, raw, model, ref, reply)
                else:
                    self._relay_body(route, path, raw, model, ref, reply)
            finally:
                conn.close()

        def _headers(self, upstream: Upstream) -> dict[str, str]:
            headers = {"content-type": "application/json"}
            for name in _FORWARDED_HEADERS:
                value = self.headers.get(name)
                if value is not None and "\n" not in value and "\r" not in value:
                    headers[name] = value
            key = upstream.api_key.get_secret_value() if upstream.api_key else ""
            if upstream.provider == "anthropic":
                headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
                if key:
                    headers["x-api-key"] = key
            elif key:
                headers["authorization"] = f"Bearer {key}"
            return headers

        def _relay_body(
            self,
            route: Route,
            path: str,
            request: bytes,
            model: str,
            ref: ModelRef,
            reply: http.client.HTTPResponse,
        ) -> None:
            try:
                data = reply.read(config.max_reply_bytes + 1)
            except (OSError, http.client.HTTPException) as exc:
                raise _Refusal("upstream", f"upstream reply broke: {type(exc).__name__}") from None
            if len(data) > config.max_reply_bytes:
                raise _Refusal(
                    "upstream", f"upstream reply is larger than {config.max_reply_bytes} bytes"
                )
            try:
                parsed = json.loads(data)
            except (ValueError, RecursionError):  # RecursionError: nesting past the parser
                raise _Refusal(
                    "upstream", f"upstream reply (HTTP {reply.status}) is not JSON"
                ) from None
            status = reply.status if 200 <= reply.status <= 599 else 502
            tokens: Tokens | None = None
            usd: float | None = None
            if 200 <= status < 300:
                tokens = tokens_of_body(route, parsed) or estimate(len(request), len(data))
                usd = gateway.charge(ref, tokens)
            data = gateway.redact(data)
            extra = {}
            if (retry_after := reply.getheader("retry-after")) and retry_after.isdigit():
                extra["retry-after"] = retry_after
            self._send(status, data, "application/json", extra)
            self._record(route, path, model, False, status, request, data, tokens=tokens, usd=usd)

        def _relay_stream(
            self,
            route: Route,
            path: str,
            request: bytes,
            model: str,
            ref: ModelRef,
            reply: http.client.HTTPResponse,
        ) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            meter = StreamUsage(route)
            seen = 0
            kept = bytearray()
            error: str | None = None
            hung_up = False
            try:
                while True:
                    event, error = self._next_event(reply, seen)
                    if event:
                        seen += len(event)
                        meter.feed(event)
                        event = gateway.redact(event)
                        if len(kept) <= config.record_body_bytes:
                            kept += event
                        self._chunk(event)
                    if error is not None or not event:
                        break
                if error is not None:
                    self._chunk(stream_error_event(error, anthropic=route == "messages"))
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                hung_up = True
                self.close_connection = True
            tokens = meter.tokens or estimate(len(request), seen)
            usd = gateway.charge(ref, tokens)
            if hung_up:
                error = error or "the client hung up mid-stream"
            self._record(
                route,
                path,
                model,
                True,
                200,
                request,
                bytes(kept),
                tokens=tokens,
                usd=usd,
                error=error,
            )

        def _next_event(
            self, reply: http.client.HTTPResponse, seen: int
        ) -> tuple[bytes, str | None]:
            """One SSE event (lines up to a blank one), b"" at the end, or an error on a bound."""
            event = bytearray()
            while True:
                try:
                    line = reply.readline(config.max_event_bytes + 1)
                except (OSError, http.client.HTTPException) as exc:
                    return bytes(event), f"upstream stream broke: {type(exc).__name__}"
                if not line:
                    return bytes(event), None
                event += line
                if len(event) > config.max_event_bytes:
                    return (
                        b"",
                        f"upstream stream event is larger than {config.max_event_bytes} bytes",
                    )
                if seen + len(event) > config.max_reply_bytes:
                    return b"", f"upstream stream is larger than {config.max_reply_bytes} bytes"
                if line in (b"\n", b"\r\n"):
                    return bytes(event), None

        # replies -------------------------------------------------------------------
        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _send(
            self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            send_reply(self, status, data, ctype, headers)

        def _refuse(
            self,
            route: Route | None,
            kind: ErrorKind,
            message: str,
            *,
            path: str = "",
            request: bytes = b"",
        ) -> None:
            status, data = error_reply(kind, message, anthropic=is_anthropic(route, path))
            # the SDKs retry 429 and 5xx unless told not to; a used-up budget stays used up
            headers = {"x-should-retry": "false"} if kind in ("budget", "auth") else {}
            if kind == "busy":
                headers = {"retry-after": "1"}
            try:
                self._send(status, data, "application/json", headers)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            self._record(route, path or self.path, None, False, status, request, data, refused=kind)

        def _record(
            self,
            route: Route | None,
            path: str,
            model: str | None,
            stream: bool,
            status: int,
            request: bytes,
            reply: bytes,
            **extra: Any,
        ) -> None:
            if gateway.log is not None:
                gateway.log.write(
                    route=route,
                    path=path,
                    model=model,
                    stream=stream,
                    status=status,
                    request=request,
                    reply=reply,
                    **extra,
                )

    return Handler
