"""A scripted LLM server on loopback, for driving the real `openai` and `anthropic` SDKs in tests.

It speaks three wire formats on one port: OpenAI Chat Completions (`POST /v1/chat/completions`),
OpenAI Responses (`POST /v1/responses`) and Anthropic Messages (`POST /v1/messages`), each with
plain text, structured JSON, tool calls and (when the request asks for it) server-sent-event
streaming. Replies come from a script: a list consumed in order, or a callable given each
request. Faults are replies too: an HTTP error with `Retry-After`, a malformed body, a stream
cut in the middle, a slow reply. Every request is recorded for assertions::

    with ScriptedLLMServer([Reply.structured({"answer": 42})]) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="test")
        ...
        assert server.requests[0].body["model"] == "gpt-5-mini"

Only 127.0.0.1 is ever bound (random free port). Stdlib only: usable without the SDKs.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


Script = Sequence[Reply] | Callable[[RecordedRequest], Reply]


class ScriptedLLMServer:
    """A threaded HTTP server on 127.0.0.1 answering from a script (see module docstring)."""

    def __init__(self, script: Script = ()) -> None:
        self._lock = threading.Lock()
        self._script = script
        self._next = 0
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.client_hangups = 0
        self.problems: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """Root URL: the Anthropic SDK's `base_url`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The OpenAI SDK's `base_url` (it appends `/chat/completions`, `/responses`)."""
        return f"{self.base_url}/v1"

    def start(self) -> ScriptedLLMServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="scripted-llm-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (idempotent); slow replies in progress are abandoned."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # script ----------------------------------------------------------------------------
    def set_script(self, script: Script) -> None:
        """Replace the script (and restart a list from its first reply)."""
        with self._lock:
            self._script = script
            self._next = 0

    def add_replies(self, *replies: Reply) -> None:
        """Append replies to a list script."""
        with self._lock:
            if callable(self._script):
                raise TypeError("the script is a callable; use set_script")
            self._script = [*self._script[self._next :], *replies]
            self._next = 0

    @property
    def replies_left(self) -> int:
        with self._lock:
            return 0 if callable(self._script) else len(self._script) - self._next

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            script = self._script
            if callable(script):
                return script(request)
            if self._next >= len(script):
                self.problems.append(f"request {len(self.requests)} came after the script ended")
                return Reply.error(500, "the scripted server has no reply left")
            reply = script[self._next]
            self._next += 1
            return reply

    def _wait(self, delay_s: float, conn: socket.socket) -> bool:
        """Sleep up to `delay_s`; False when the client hung up or the server stops first."""
        deadline = time.monotonic() + delay_s
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping.is_set():
                return False
            readable, _, _ = select.select([conn], [], [], min(left, 0.05))
            if readable and _peer_closed(conn):
                with self._lock:
                    self.client_hangups += 1
                return False
        return True


def _peer_closed(conn: socket.socket) -> bool:
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _handler_for(server: ScriptedLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body are separate writes: without this, delayed ACKs add ~40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._send_json(404, {"error": {"message": "only POST is scripted"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            path = self.path.split("?", 1)[0]
            request = RecordedRequest(
                api=PATHS.get(path),
                method="POST",
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                raw=raw,
                body=body,
            )
            reply = server._reply_for(request)
            if reply.delay_s and not server._wait(reply.delay_s, self.connection):
                self.close_connection = True
                return
            try:
                self._answer(request, reply)
            except (BrokenPipeError, ConnectionResetError):
                with server._lock:
                    server.client_hangups += 1
                self.close_connection = True

        # answers -------------------------------------------------------------------
        def _answer(self, request: RecordedRequest, reply: Reply) -> None:
            if reply.kind == "raw":
                self._send_bytes(reply.status, reply.body, "application/json")
                return
            if request.api is None:
                self._send_json(404, {"error": {"message": f"no endpoint {request.path}"}})
                return
            if reply.kind == "error":
                self._send_error(request.api, reply)
                return
            body = request.body if isinstance(request.body, dict) else {}
            if body.get("stream"):
                events = _stream_events(request.api, body, reply)
                self._send_stream(events, truncate=reply.truncate_stream)
                return
            self._send_json(200, _completion(request.api, body, reply))

        def _send_error(self, api: Api, reply: Reply) -> None:
            if api == "messages":
                kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(
                    reply.status, "api_error"
                )
                payload: dict[str, Any] = {
                    "type": "error",
                    "error": {"type": kind, "message": reply.text},
                }
            else:
                payload = {"error": {"message": reply.text, "type": "scripted", "code": None}}
            headers = {"retry-after": reply.retry_after} if reply.retry_after is not None else {}
            self._send_json(reply.status, payload, headers)

        def _send_json(
            self, status: int, payload: Any, headers: dict[str, str] | None = None
        ) -> None:
            self._send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

        def _send_bytes(
            self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _send_stream(self, events: list[bytes], *, truncate: bool) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            if truncate:
                events = events[: max(1, len(events) // 2)]
            for event in events:
                self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                self.wfile.flush()
            if truncate:  # cut the connection: no final chunk, no end-of-stream event
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


# wire formats ------------------------------------------------------------------------------
def _content_text(reply: Reply) -> str:
    return json.dumps(reply.data) if reply.kind == "json" else reply.text


def _forced_tool(body: dict[str, Any]) -> str | None:
    """The tool an Anthropic request forces (`tool_choice: {type: tool, name}`), if any."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        name = choice.get("name")
        return str(name) if name else None
    return None


def _completion(api: Api, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    model = str(body.get("model", "scripted-model"))
    u = reply.usage
    if api == "chat":
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        if reply.kind == "tool_call":
            message["tool_calls"] = [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": reply.tool_name, "arguments": json.dumps(reply.data)},
                }
            ]
            finish = "tool_calls"
        if reply.cut:
            finish = "length"
        else:
            message["content"] = _content_text(reply)
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": u.input_tokens,
                "completion_tokens": u.output_tokens,
                "total_tokens": u.input_tokens + u.output_tokens,
                "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            },
        }
    if api == "responses":
        return _response_object(model, reply, status="incomplete" if reply.cut else "completed")
    # Anthropic Messages
    tool = reply.tool_name if reply.kind == "tool_call" else None
    if reply.kind == "json" and (forced := _forced_tool(body)) is not None:
        tool = forced
    if tool is not None:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": "toolu_1",
            "name": tool,
            "input": reply.data,
        }
        stop = "tool_use"
    else:
        block = {"type": "text", "text": _content_text(reply)}
        stop = "end_turn"
    if reply.cut:
        stop = "max_tokens"
    return {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": u.input_tokens - u.cached_tokens,
            "output_tokens": u.output_tokens,
            "cache_read_input_tokens": u.cached_tokens,
            "cache_creation_input_tokens": 0,
        },
    }


def _response_object(model: str, reply: Reply, *, status: str) -> dict[str, Any]:
    u = reply.usage
    if reply.kind == "tool_call":
        item: dict[str, Any] = {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": reply.tool_name,
            "arguments": json.dumps(reply.data),
            "status": "completed",
        }
    else:
        item = {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": _content_text(reply), "annotations": []}],
        }
    return {
        "id": "resp_scripted",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": model,
        "status": status,
        "output": [] if status == "in_progress" else [item],
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens,
            "input_tokens_details": {"cached_tokens": u.cached_tokens},
            "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        },
    }


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def _pieces(text: str, n: int = 3) -> Iterator[str]:
    step = max(1, -(-len(text) // n))
    for i in range(0, len(text), step):
        yield text[i : i + step]


def _stream_events(api: Api, body: dict[str, Any], reply: Reply) -> list[bytes]:
    """The reply as the endpoint's server-sent events (text and JSON replies)."""
    model = str(body.get("model", "scripted-model"))
    text = _content_text(reply)
    u = reply.usage
    if api == "chat":
        base = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
        }
        events = [
            _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        ]
        events += [
            _sse({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
            for piece in _pieces(text)
        ]
        events.append(
            _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        )
        events.append(
            _sse(
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": u.input_tokens,
                        "completion_tokens": u.output_tokens,
                        "total_tokens": u.input_tokens + u.output_tokens,
                    },
                }
            )
        )
        events.append(_sse("[DONE]"))
        return events
    if api == "responses":
        done = _response_object(
            model, reply.model_copy(update={"kind": "text", "text": text}), status="completed"
        )
        started = {**done, "status": "in_progress", "output": []}
        item = done["output"][0]
        seq = iter(range(1000))
        events = [
            _sse(
                {"type": "response.created", "sequence_number": next(seq), "response": started},
                "response.created",
            ),
            _sse(
                {
                    "type": "response.output_item.added",
                    "sequence_number": next(seq),
                    "output_index": 0,
                    "item": {**item, "status": "in_progress", "content": []},
                },
                "response.output_item.added",
            ),
            _sse(
                {
                    "type": "response.content_part.added",
                    "sequence_number": next(seq),
                    "item_id": item["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []},
                },
                "response.content_part.added",
            ),
        ]
        events += [
            _sse(
                {
                    "type": "response.output_text.delta",
                    "sequence_number": next(seq),
                    "item_id": item["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                    "logprobs": [],
                },
                "response.output_text.delta",
            )
            for piece in _pieces(text)
        ]
        events += [
            _sse(
                {
                    "type": "response.output_text.done",
                    "sequence_number": next(seq),
                    "item_id": item["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "text": text,
                    "logprobs": [],
                },
                "response.output_text.done",
            ),
            _sse(
                {
                    "type": "response.output_item.done",
                    "sequence_number": next(seq),
                    "output_index": 0,
                    "item": item,
                },
                "response.output_item.done",
            ),
            _sse(
                {"type": "response.completed", "sequence_number": next(seq), "response": done},
                "response.completed",
            ),
        ]
        return events
    message = _completion(
        "messages",
        {**body, "tool_choice": None},
        reply.model_copy(update={"kind": "text", "text": text}),
    )
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {**message["usage"], "output_tokens": 0},
    }
    events = [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
    ]
    events += [
        _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
            "content_block_delta",
        )
        for piece in _pieces(text)
    ]
    events += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": u.output_tokens},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return events
