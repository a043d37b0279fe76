"""The gateway's routes and its error replies, in each provider's own error shape.

The SDKs turn these into their normal exceptions (`openai.RateLimitError`,
`anthropic.BadRequestError`, ...), so a third-party agent handles a gateway refusal the way it
handles the provider's.
"""

from __future__ import annotations

import json
from typing import Literal

Route = Literal["chat", "responses", "messages"]
# The client-side paths (the OpenAI SDK's base_url is `<gateway>/v1`, Anthropic's `<gateway>`)
# and the path each one takes below its upstream base URL.
ROUTES: dict[str, Route] = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}
UPSTREAM_PATH: dict[Route, str] = {
    "chat": "/chat/completions",
    "responses": "/responses",
    "messages": "/v1/messages",
}

ErrorKind = Literal["budget", "auth", "bad_request", "too_large", "not_found", "busy", "upstream"]

# (HTTP status, OpenAI error type/code, Anthropic error type) per kind. The budget refusal
# mirrors each provider's own out-of-credit reply: OpenAI 429 `insufficient_quota`,
# Anthropic 400 `invalid_request_error`.
_SHAPES: dict[ErrorKind, tuple[int, str, str]] = {
    "budget": (429, "insufficient_quota", "invalid_request_error"),
    "auth": (401, "invalid_api_key", "authentication_error"),
    "bad_request": (400, "invalid_request_error", "invalid_request_error"),
    "too_large": (413, "invalid_request_error", "request_too_large"),
    "not_found": (404, "not_found", "not_found_error"),
    "busy": (429, "rate_limit_exceeded", "rate_limit_error"),
    "upstream": (502, "api_error", "api_error"),
}
_ANTHROPIC_STATUS: dict[ErrorKind, int] = {"budget": 400}


def is_anthropic(route: Route | None, path: str) -> bool:
    """Whether a client request speaks Anthropic's format (its path, when the route is unknown)."""
    return route == "messages" or (route is None and path.startswith("/v1/messages"))


def error_reply(kind: ErrorKind, message: str, *, anthropic: bool) -> tuple[int, bytes]:
    """The status and JSON body of a gateway error in the client's provider's shape."""
    status, openai_type, anthropic_type = _SHAPES[kind]
    text = f"mledojo gateway: {message}"
    if anthropic:
        body: dict[str, object] = {
            "type": "error",
            "error": {"type": anthropic_type, "message": text},
        }
        return _ANTHROPIC_STATUS.get(kind, status), json.dumps(body).encode()
    error = {"message": text, "type": openai_type, "param": None, "code": openai_type}
    return status, json.dumps({"error": error}).encode()


def stream_error_event(message: str, *, anthropic: bool) -> bytes:
    """An SSE event that ends a stream with an error the SDK's stream reader raises."""
    text = f"mledojo gateway: {message}"
    if anthropic:
        data = {"type": "error", "error": {"type": "api_error", "message": text}}
        return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"
    data2 = {"error": {"message": text, "type": "api_error", "param": None, "code": None}}
    return b"data: " + json.dumps(data2).encode() + b"\n\n"
