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

Only 127.0.0.1 is ever bound (random free port). Needs no SDK: `http.server` and pydantic.
The replies live in `replies.py`, the wire formats in `wire.py`.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mledojo.llm.gateway.loopback import send_reply
from mledojo.testing.replies import PATHS, Api, RecordedRequest, Reply, ScriptedUsage
from mledojo.testing.wire import completion_body, stream_events

__all__ = ["RecordedRequest", "Reply", "Script", "ScriptedLLMServer", "ScriptedUsage"]

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
                events = stream_events(request.api, body, reply)
                self._send_stream(events, truncate=reply.truncate_stream)
                return
            self._send_json(200, completion_body(request.api, body, reply))

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
            send_reply(self, status, data, ctype, headers)

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
