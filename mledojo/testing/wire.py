"""The three wire formats of the scripted server: reply bodies and server-sent events.

OpenAI Chat Completions, OpenAI Responses and Anthropic Messages, in the shapes the official
SDKs parse (non-streaming bodies, and the event sequence each SDK's stream reader expects).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mledojo.testing.replies import Api, Reply


def _content_text(reply: Reply) -> str:
    return json.dumps(reply.data) if reply.kind == "json" else reply.text


def _forced_tool(body: dict[str, Any]) -> str | None:
    """The tool an Anthropic request forces (`tool_choice: {type: tool, name}`), if any."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        name = choice.get("name")
        return str(name) if name else None
    return None


def completion_body(api: Api, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
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


def stream_events(api: Api, body: dict[str, Any], reply: Reply) -> list[bytes]:
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
    message = completion_body(
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
