"""The scripted LLM server against the real SDKs: formats, streaming, faults, recording."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from mledojo.testing.llm_server import RecordedRequest, Reply, ScriptedLLMServer

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")

USER = [{"role": "user", "content": "hi"}]


def _openai(server: ScriptedLLMServer, **kw: Any) -> Any:
    return openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0, **kw)


def _anthropic(server: ScriptedLLMServer, **kw: Any) -> Any:
    return anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=0, **kw)


def test_tool_calls_in_each_format(llm_server: ScriptedLLMServer) -> None:
    args = {"name": "train_model", "arguments": {"algorithm": "xgboost"}}
    llm_server.add_replies(*[Reply.tool_call("call_tool", args)] * 3)
    tool = {"type": "function", "function": {"name": "call_tool", "parameters": {}}}
    chat = _openai(llm_server).chat.completions.create(model="m", messages=USER, tools=[tool])
    call = chat.choices[0].message.tool_calls[0]
    assert call.function.name == "call_tool" and json.loads(call.function.arguments) == args
    resp = _openai(llm_server).responses.create(model="m", input="hi")
    item = resp.output[0]
    assert item.type == "function_call" and json.loads(item.arguments) == args
    msg = _anthropic(llm_server).messages.create(model="m", max_tokens=10, messages=USER)
    block = msg.content[0]
    assert block.type == "tool_use" and block.name == "call_tool" and block.input == args
    assert msg.stop_reason == "tool_use"


def test_streaming_in_each_format(llm_server: ScriptedLLMServer) -> None:
    text = "a streamed answer in pieces"
    llm_server.add_replies(*[Reply.say(text)] * 3)
    stream = _openai(llm_server).chat.completions.create(model="m", messages=USER, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text
    with _openai(llm_server).responses.stream(model="m", input="hi") as events:
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        assert len(deltas) == 3 and events.get_final_response().output_text == text
    with _anthropic(llm_server).messages.stream(model="m", max_tokens=9, messages=USER) as s:
        assert s.get_final_text() == text
    assert [r.body["stream"] for r in llm_server.requests] == [True, True, True]


def test_truncated_streams_fail_in_each_sdk(llm_server: ScriptedLLMServer) -> None:
    """The body stops without its last chunk: httpx2 refuses it (the SDKs do not wrap it)."""
    cut = (httpx2.RemoteProtocolError, openai.APIConnectionError, anthropic.APIConnectionError)
    llm_server.add_replies(*[Reply.say("this stream is cut half way").truncated()] * 3)
    with pytest.raises(cut):
        list(_openai(llm_server).chat.completions.create(model="m", messages=USER, stream=True))
    with (
        pytest.raises(cut),
        _openai(llm_server).responses.stream(model="m", input="hi") as events,
    ):
        list(events)
    with (
        pytest.raises(cut),
        _anthropic(llm_server).messages.stream(model="m", max_tokens=9, messages=USER) as s,
    ):
        s.get_final_text()


def test_errors_malformed_bodies_and_retry_after(llm_server: ScriptedLLMServer) -> None:
    llm_server.add_replies(
        Reply.error(429, "slow", retry_after="7"),
        Reply.raw(b"{oops"),
        Reply.error(529, "overloaded"),
    )
    with pytest.raises(openai.RateLimitError) as info:
        _openai(llm_server).chat.completions.create(model="m", messages=USER)
    assert info.value.response.headers["retry-after"] == "7"
    with pytest.raises(ValueError, match="Expecting property name"):  # the SDK's json error
        _openai(llm_server).chat.completions.create(model="m", messages=USER)
    with pytest.raises(anthropic.APIStatusError) as err:
        _anthropic(llm_server).messages.create(model="m", max_tokens=9, messages=USER)
    assert err.value.status_code == 529 and "overloaded" in str(err.value)


def test_requests_are_recorded_and_the_script_can_be_a_callable(
    llm_server: ScriptedLLMServer,
) -> None:
    def answer(request: RecordedRequest) -> Reply:
        return Reply.say(f"{request.api}:{len(request.body['messages'])}")

    llm_server.set_script(answer)
    got = _anthropic(llm_server).messages.create(model="claude-x", max_tokens=5, messages=USER)
    assert got.content[0].text == "messages:1"
    seen = llm_server.requests[0]
    assert seen.path == "/v1/messages" and seen.headers["authorization"] == "Bearer k"
    assert seen.body["model"] == "claude-x" and json.loads(seen.raw) == seen.body


def test_an_exhausted_script_answers_500_and_is_reported(llm_server: ScriptedLLMServer) -> None:
    llm_server.add_replies(Reply.say("only one"))
    _openai(llm_server).chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.InternalServerError, match="no reply left"):
        _openai(llm_server).chat.completions.create(model="m", messages=USER)
    assert llm_server.problems == ["request 2 came after the script ended"]
    assert llm_server.replies_left == 0


def test_slow_reply_and_client_hangup_are_seen(llm_server: ScriptedLLMServer) -> None:
    llm_server.add_replies(Reply.say("late").slow(30), Reply.say("on time").slow(0.3))
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        _openai(llm_server, timeout=0.3).chat.completions.create(model="m", messages=USER)
    deadline = time.monotonic() + 5
    while llm_server.client_hangups < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert llm_server.client_hangups == 1 and time.monotonic() - start < 5
    got = _openai(llm_server, timeout=5).chat.completions.create(model="m", messages=USER)
    assert got.choices[0].message.content == "on time"


def test_context_manager_binds_loopback_and_releases_the_port() -> None:
    with ScriptedLLMServer([Reply.say("x")]) as server:
        port = server.port
        assert server.base_url == f"http://127.0.0.1:{port}"
        assert server._httpd.server_address[0] == "127.0.0.1"  # the socket, not just the URL
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
