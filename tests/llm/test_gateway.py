"""The model gateway, driven by the real `openai` and `anthropic` SDKs through to the scripted
server on loopback: plain, streamed and tool-call replies, metering, the budget refusal each
SDK raises, the key canary, the client-token check and the size bounds on hostile replies."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from mledojo.llm import MissingAPIKeyError, UsageMeter
from mledojo.llm.gateway import (
    EXCHANGES_FILE,
    GatewayConfig,
    ModelGateway,
    ReplayUpstream,
    Upstream,
    read_exchanges,
)
from mledojo.testing.llm_server import RecordedRequest, Reply, ScriptedLLMServer, ScriptedUsage

CANARY = "sk-canary-" + secrets.token_hex(16)
ANT_CANARY = "sk-ant-canary-" + secrets.token_hex(16)
OPENAI_MODEL = "gpt-5-mini"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
HI = [{"role": "user", "content": "hi"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def make_gateway(
    server: ScriptedLLMServer, run_dir: Path, meter: UsageMeter | None = None, **bounds: Any
) -> ModelGateway:
    config = GatewayConfig(
        openai=Upstream(base_url=server.openai_base_url, provider="openai", api_key=CANARY),
        anthropic=Upstream(base_url=server.base_url, provider="anthropic", api_key=ANT_CANARY),
        **bounds,
    )
    return ModelGateway(config, meter=meter or UsageMeter(), record_dir=run_dir)


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


@pytest.fixture
def gateway(server: ScriptedLLMServer, tmp_path: Path) -> Iterator[ModelGateway]:
    with make_gateway(server, tmp_path) as gw:
        yield gw


def oai(gw: ModelGateway, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gw.openai_base_url, api_key=key or gw.client_token, max_retries=0, timeout=30
    )


def ant(gw: ModelGateway, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gw.anthropic_base_url, api_key=key or gw.client_token, max_retries=0, timeout=30
    )


def test_openai_chat_plain_stream_and_tool_call(
    server: ScriptedLLMServer, gateway: ModelGateway
) -> None:
    server.add_replies(
        Reply.say("plain answer"),
        Reply.say("streamed answer"),
        Reply.tool_call("get_weather", {"city": "Paris"}),
    )
    client = oai(gateway)
    plain = client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
    assert plain.choices[0].message.content == "plain answer"
    chunks = client.chat.completions.create(model=OPENAI_MODEL, messages=HI, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed answer"
    tool = client.chat.completions.create(model=OPENAI_MODEL, messages=HI, tools=[WEATHER_TOOL])
    call = (tool.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    # the tools reached the upstream untouched; the stream was asked for its usage chunk
    assert server.requests[2].body["tools"] == [WEATHER_TOOL]
    assert server.requests[1].body["stream_options"] == {"include_usage": True}
    totals = gateway.meter.totals
    assert (totals.calls, totals.input_tokens, totals.output_tokens) == (3, 33, 21)
    assert totals.usd == pytest.approx(3 * (11 * 0.25 + 7 * 2.0) / 1e6)


def test_openai_responses_plain_and_stream(
    server: ScriptedLLMServer, gateway: ModelGateway
) -> None:
    server.add_replies(Reply.say("one"), Reply.say("two, streamed"))
    client = oai(gateway)
    assert client.responses.create(model=OPENAI_MODEL, input="hi").output_text == "one"
    events = list(client.responses.create(model=OPENAI_MODEL, input="hi", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "two, streamed"
    assert gateway.meter.totals.calls == 2
    assert gateway.meter.totals.total_tokens == 36


def test_anthropic_plain_stream_and_tool_call(
    server: ScriptedLLMServer, gateway: ModelGateway
) -> None:
    server.add_replies(
        Reply.say("plain", usage=ScriptedUsage(input_tokens=20, output_tokens=5, cached_tokens=8)),
        Reply.say("streamed"),
        Reply.tool_call("get_weather", {"city": "Oslo"}),
    )
    client = ant(gateway)
    msg = client.messages.create(model=ANTHROPIC_MODEL, max_tokens=50, messages=HI)
    assert msg.content[0].text == "plain"
    with client.messages.stream(model=ANTHROPIC_MODEL, max_tokens=50, messages=HI) as stream:
        assert stream.get_final_text() == "streamed"
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    used = client.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=50,
        messages=HI,
        tools=tools,
    )
    assert used.stop_reason == "tool_use"
    assert used.content[0].input == {"city": "Oslo"}
    assert server.requests[2].body["tools"] == tools
    totals = gateway.meter.totals
    # cache reads count as input (20 = 12 uncached + 8 cached), as in the layer's own adapter
    assert (totals.input_tokens, totals.cached_tokens, totals.output_tokens) == (42, 8, 19)
    assert totals.calls == 3


def test_budget_refusal_is_each_sdks_own_error_and_is_not_retried(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    server.add_replies(Reply.say("a"), Reply.say("b"))
    with make_gateway(server, tmp_path, UsageMeter(max_tokens=30)) as gw:
        openai_client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.client_token)
        anthropic_client = anthropic.Anthropic(base_url=gw.base_url, api_key=gw.client_token)
        openai_client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
        anthropic_client.messages.create(model=ANTHROPIC_MODEL, max_tokens=5, messages=HI)
        with pytest.raises(openai.RateLimitError) as oerr:
            openai_client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
        assert oerr.value.code == "insufficient_quota"
        assert "budget used up" in oerr.value.message
        with pytest.raises(anthropic.BadRequestError) as aerr:
            anthropic_client.messages.create(model=ANTHROPIC_MODEL, max_tokens=5, messages=HI)
        assert "budget used up" in aerr.value.message
    # the SDKs (default retries on) did not retry: only the two admitted calls went upstream
    assert len(server.requests) == 2
    refused = [e for e in read_exchanges(tmp_path / EXCHANGES_FILE) if e.refused]
    assert [e.refused for e in refused] == ["budget", "budget"]


def test_unpriced_model_is_refused_under_a_dollar_budget(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    with make_gateway(server, tmp_path, UsageMeter(max_usd=1.0)) as gw:
        with pytest.raises(openai.BadRequestError, match="has no price"):
            oai(gw).chat.completions.create(model="gpt-free-lunch", messages=HI)
    assert server.requests == []


def test_a_model_alias_reaches_the_upstream_and_the_meter_by_its_real_name(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    """An agent that picks its wire by the model's name (AIDE) is given a neutral alias."""
    server.add_replies(Reply.say("aliased"))
    aliases = {"agent-code": OPENAI_MODEL}
    with make_gateway(server, tmp_path, UsageMeter(max_usd=1.0), model_aliases=aliases) as gw:
        reply = oai(gw).chat.completions.create(model="agent-code", messages=HI)
        assert reply.choices[0].message.content == "aliased"
        assert server.requests[0].body["model"] == OPENAI_MODEL
        # priced as the real model: an unknown alias would have been refused (dollar budget)
        assert gw.meter.totals.usd == pytest.approx((11 * 0.25 + 7 * 2.0) / 1e6)
    assert [e.model for e in read_exchanges(tmp_path / EXCHANGES_FILE)] == [OPENAI_MODEL]


def test_key_canary_never_reaches_the_agent_or_the_run_folder(
    server: ScriptedLLMServer, gateway: ModelGateway, tmp_path: Path
) -> None:
    """The upstream gets the real keys; the agent, its replies and the record never do, even
    when a hostile upstream echoes the key in its reply."""
    server.add_replies(
        Reply.say(f"echo {CANARY}"),
        Reply.say(f"echo {CANARY} streamed"),
        Reply.say(f"echo {ANT_CANARY}"),
        Reply.error(429, f"quota for {CANARY}"),
    )
    client = oai(gateway, key=None)
    seen = [client.chat.completions.create(model=OPENAI_MODEL, messages=HI).model_dump_json()]
    stream = client.chat.completions.create(model=OPENAI_MODEL, messages=HI, stream=True)
    seen += [chunk.model_dump_json() for chunk in stream]
    msg = ant(gateway).messages.create(model=ANTHROPIC_MODEL, max_tokens=5, messages=HI)
    seen.append(msg.model_dump_json())
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
    seen.append(json.dumps(err.value.body))
    # the upstream really got each key, and never the agent's token
    assert server.requests[0].headers["authorization"] == f"Bearer {CANARY}"
    assert server.requests[2].headers["x-api-key"] == ANT_CANARY
    assert all(gateway.client_token not in json.dumps(r.headers) for r in server.requests)
    assert "[redacted]" in seen[0]
    written = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert written, "the gateway recorded its exchanges"
    for text in [*seen, *written]:
        assert CANARY not in text and ANT_CANARY not in text


def test_a_wrong_client_key_is_refused_and_never_forwarded(
    server: ScriptedLLMServer, gateway: ModelGateway
) -> None:
    with pytest.raises(openai.AuthenticationError):
        oai(gateway, key="sk-guess").chat.completions.create(model=OPENAI_MODEL, messages=HI)
    with pytest.raises(anthropic.AuthenticationError):
        ant(gateway, key="sk-guess").messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=5,
            messages=HI,
        )
    assert server.requests == []


def test_an_oversized_request_is_refused_before_it_is_read(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    with make_gateway(server, tmp_path, max_request_bytes=2_000) as gw:
        big = [{"role": "user", "content": "x" * 3_000_000}]  # past the socket buffers
        with pytest.raises(openai.APIStatusError) as err:
            oai(gw).chat.completions.create(model=OPENAI_MODEL, messages=big)
        assert err.value.status_code == 413
    assert server.requests == []


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.raw(b"{" * 50_000), "larger than"),
        (Reply.raw(b"<html>not json</html>"), "not JSON"),
        (Reply.raw(b"[" * 4_900 + b"]" * 4_900), "not JSON"),  # nesting past the parser
    ],
)
def test_a_hostile_upstream_body_is_an_error_reply(
    server: ScriptedLLMServer, tmp_path: Path, reply: Reply, reason: str
) -> None:
    server.add_replies(reply, Reply.say("still serving"))
    with make_gateway(server, tmp_path, max_reply_bytes=10_000) as gw:
        client = oai(gw)
        with pytest.raises(openai.APIStatusError, match=reason) as err:
            client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
        assert err.value.status_code == 502
        reply2 = client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
        assert reply2.choices[0].message.content == "still serving"


def test_a_huge_stream_event_ends_the_stream_with_an_sdk_error(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    server.add_replies(Reply.say("y" * 30_000), Reply.say("z" * 30_000))
    with make_gateway(server, tmp_path, max_event_bytes=4_000) as gw:
        with pytest.raises(openai.APIError, match="larger than 4000 bytes"):
            for _ in oai(gw).chat.completions.create(model=OPENAI_MODEL, messages=HI, stream=True):
                pass
        with pytest.raises(anthropic.APIStatusError, match="larger than 4000 bytes"):
            with ant(gw).messages.stream(model=ANTHROPIC_MODEL, max_tokens=5, messages=HI) as s:
                s.get_final_text()
        # the cut streams were charged by their size (no usage event arrived)
        assert gw.meter.totals.calls == 2
        assert gw.meter.totals.output_tokens > 0


def test_a_reply_without_usage_is_charged_an_estimate(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": OPENAI_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "free?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": -5, "completion_tokens": "many"},
    }
    server.add_replies(Reply.raw(json.dumps(body).encode()))
    with make_gateway(server, tmp_path) as gw:
        oai(gw).chat.completions.create(model=OPENAI_MODEL, messages=HI)
        assert gw.meter.totals.input_tokens > 0 and gw.meter.totals.output_tokens > 0
    (exchange,) = read_exchanges(tmp_path / EXCHANGES_FILE)
    assert exchange.tokens is not None and exchange.tokens.estimated


@pytest.mark.parametrize("model", ["", "m" * 500, None])
def test_a_bad_model_name_is_a_400_not_a_dead_connection(
    server: ScriptedLLMServer, gateway: ModelGateway, model: str | None
) -> None:
    with pytest.raises(openai.BadRequestError, match="model"):
        oai(gateway).chat.completions.create(model=model, messages=HI)
    assert server.requests == []


def test_calls_past_the_concurrency_bound_are_refused_as_busy(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    """Calls in flight together all pass the budget check; the bound caps that overshoot."""
    release = threading.Event()

    def held(request: RecordedRequest) -> Reply:
        release.wait(60)
        return Reply.say("held")

    server.set_script(held)
    answers: list[str] = []
    with make_gateway(server, tmp_path, max_concurrent_calls=1) as gw:
        client = oai(gw)

        def first() -> None:
            reply = client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
            answers.append(reply.choices[0].message.content or "")

        worker = threading.Thread(target=first)
        worker.start()
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            with pytest.raises(openai.RateLimitError, match="calls at once"):
                client.chat.completions.create(model=OPENAI_MODEL, messages=HI)
        finally:
            release.set()
            worker.join(60)
    assert answers == ["held"] and len(server.requests) == 1


def test_unknown_routes_and_unconfigured_families_are_404s(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    config = GatewayConfig(openai=Upstream(base_url=server.openai_base_url, provider="openai"))
    with ModelGateway(config, meter=UsageMeter(), record_dir=tmp_path) as gw:
        with pytest.raises(anthropic.NotFoundError, match="no Anthropic upstream"):
            ant(gw).messages.create(model=ANTHROPIC_MODEL, max_tokens=5, messages=HI)
        with pytest.raises(openai.NotFoundError):
            oai(gw).models.list()
        with pytest.raises(openai.NotFoundError, match="no endpoint POST /v1/embeddings"):
            oai(gw).embeddings.create(model="text-embedding-3-small", input="hi")
    assert server.requests == []


def test_upstream_key_from_the_host_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANT_CANARY)
    upstream = Upstream.from_env("anthropic", "http://127.0.0.1:9")
    assert upstream.api_key is not None and upstream.api_key.get_secret_value() == ANT_CANARY
    assert ANT_CANARY not in repr(upstream)
    assert Upstream.from_env("openai-compatible", "http://127.0.0.1:9/v1").api_key is None
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        Upstream.from_env("openai", "http://127.0.0.1:9/v1")


def _episode(gw: ModelGateway) -> list[str]:
    """A fixed little conversation through both SDKs: plain, streamed, tool call."""
    client = oai(gw)
    out = [client.chat.completions.create(model=OPENAI_MODEL, messages=HI).model_dump_json()]
    stream = client.chat.completions.create(model=OPENAI_MODEL, messages=HI, stream=True)
    out.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    with ant(gw).messages.stream(model=ANTHROPIC_MODEL, max_tokens=9, messages=HI) as s:
        out.append(s.get_final_text())
    msg = ant(gw).messages.create(model=ANTHROPIC_MODEL, max_tokens=9, messages=HI)
    out.append(msg.model_dump_json())
    return out


def test_a_recorded_episode_replays_offline_and_a_divergence_is_loud(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    server.add_replies(
        Reply.say("one"),
        Reply.say("two streamed"),
        Reply.say("three streamed"),
        Reply.tool_call("get_weather", {"city": "Rome"}),
    )
    with make_gateway(server, tmp_path / "first") as gw:
        first = _episode(gw)
        spent = gw.meter.totals
    record = tmp_path / "first" / EXCHANGES_FILE
    with ReplayUpstream(record) as replay:
        config = GatewayConfig(
            openai=Upstream(base_url=replay.openai_base_url, provider="openai"),
            anthropic=Upstream(base_url=replay.base_url, provider="anthropic"),
        )
        with ModelGateway(config, meter=UsageMeter(), record_dir=tmp_path / "again") as gw:
            assert _episode(gw) == first
            assert gw.meter.totals == spent
            with pytest.raises(openai.APIStatusError, match="past the end") as err:
                oai(gw).chat.completions.create(model=OPENAI_MODEL, messages=HI)
            assert err.value.status_code == 409
    assert len(server.requests) == 4, "the replay never reached the upstream"
    assert (tmp_path / "again" / EXCHANGES_FILE).read_text().splitlines()[:4] == (
        record.read_text().splitlines()
    )
    with ReplayUpstream(record) as replay:
        config = GatewayConfig(openai=Upstream(base_url=replay.openai_base_url, provider="openai"))
        with ModelGateway(config, meter=UsageMeter()) as gw:
            other = [{"role": "user", "content": "something else"}]
            with pytest.raises(openai.APIStatusError, match="another request body"):
                oai(gw).chat.completions.create(model=OPENAI_MODEL, messages=other)
