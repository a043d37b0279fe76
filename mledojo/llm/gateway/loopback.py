"""A threaded HTTP server on 127.0.0.1 with a start/close lifecycle (gateway and replay)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackService:
    """Serves `handler` on a random free loopback port from a daemon thread once started."""

    thread_name = "mledojo-loopback"

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._extra: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The OpenAI SDK's `base_url`."""
        return f"{self.base_url}/v1"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def also_serve(self, listener: socket.socket) -> None:
        """Serve the same handler on `listener` too, an already listening socket (a jailed
        driver's, in the driver's own network namespace); it is closed with the service."""
        httpd = ThreadingHTTPServer(
            listener.getsockname(), self._httpd.RequestHandlerClass, bind_and_activate=False
        )
        httpd.socket.close()
        httpd.socket = listener
        httpd.daemon_threads = True
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.thread_name}-extra",
            daemon=True,
        )
        thread.start()
        self._extra.append((httpd, thread))

    def close(self) -> None:
        """Stop serving (idempotent); calls in flight are cut."""
        while self._extra:
            httpd, thread = self._extra.pop()
            httpd.shutdown()
            thread.join(timeout=5)
            httpd.server_close()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def send_reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    ctype: str,
    headers: dict[str, str] | None = None,
) -> None:
    """One whole HTTP reply: status, content type and length, extra headers, body."""
    handler.send_response(status)
    handler.send_header("content-type", ctype)
    handler.send_header("content-length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()
