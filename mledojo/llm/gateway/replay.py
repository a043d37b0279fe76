"""`ReplayUpstream`: answers an episode's model calls again from its `gateway-exchanges.jsonl`.

Point a gateway's upstreams at it (OpenAI family: `replay.openai_base_url`, Anthropic:
`replay.base_url`) and an agent that makes the same calls gets the same replies, offline and
free of charge. Calls are answered in the recorded order; a call whose path or body differs
from the record, one past its end, or one whose record was cut at the size bound gets a 409
naming the exchange, so a diverging agent fails loudly instead of being fed wrong answers.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from mledojo.llm.gateway.exchanges import Exchange, read_exchanges
from mledojo.llm.gateway.loopback import LoopbackService
from mledojo.llm.gateway.shapes import UPSTREAM_PATH


class ReplayUpstream(LoopbackService):
    """A loopback server replaying the forwarded exchanges of a record file, in order."""

    thread_name = "mledojo-gateway-replay"

    def __init__(self, record: Path) -> None:
        self.record = record
        self._exchanges = [e for e in read_exchanges(record) if e.refused is None]
        self._next = 0
        self._lock = threading.Lock()
        self.divergences: list[str] = []
        super().__init__(_handler_for(self))

    def answer(self, path: str, body: bytes) -> Exchange | str:
        """The recorded exchange for this call, or why it cannot be replayed."""
        with self._lock:
            if self._next >= len(self._exchanges):
                problem = f"call {self._next + 1} is past the end of {self.record.name}"
            else:
                exchange = self._exchanges[self._next]
                self._next += 1
                expected = _upstream_path(exchange)
                if exchange.request_truncated or exchange.reply_truncated:
                    problem = f"exchange {exchange.seq} was recorded cut at the size bound"
                elif expected is None or not path.endswith(expected):
                    problem = f"exchange {exchange.seq} was a call of {exchange.path}, not {path}"
                elif body.decode("utf-8", errors="replace") != exchange.request:
                    problem = f"exchange {exchange.seq} had another request body"
                else:
                    return exchange
            self.divergences.append(problem)
            return problem


_PATHS: dict[str, str] = {route: path for route, path in UPSTREAM_PATH.items()}


def _upstream_path(exchange: Exchange) -> str | None:
    return _PATHS.get(exchange.route or "")


def _handler_for(replay: ReplayUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            found = replay.answer(self.path.split("?", 1)[0], body)
            if isinstance(found, str):
                message = f"replay of {replay.record} diverged: {found}"
                data = json.dumps({"error": {"message": message, "type": "replay"}}).encode()
                self._send(409, "application/json", data)
                return
            ctype = "text/event-stream" if found.stream else "application/json"
            self._send(found.status, ctype, found.reply.encode())

        def _send(self, status: int, ctype: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    return Handler
