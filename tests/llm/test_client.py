"""`LLMClient` driving the real `openai` and `anthropic` SDKs against the scripted server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from mledojo.errors import MLEDojoError
from mledojo.llm import (
    RECORD_FILE,
    LLMBudgetExceeded,
    LLMCallError,
    LLMCancelledError,
    LLMOutputError,
    LLMTimeoutError,
    Message,
    UsageMeter,
)
from mledojo.testing.llm_server import Reply, ScriptedLLMServer, ScriptedUsage

from .conftest import MODELS, MakeClient

pytest.importorskip("openai")
pytest.importorskip("anthropic")


class Experiment(BaseModel):
    algorithm: str
    n_estimators: int = Field(ge=1)
    rationale: str


class Design(BaseModel):
    experiments: list[Experiment]


GOOD = {"experiments": [{"algorithm": "lightgbm", "n_estimators": 300, "rationale": "fast"}]}
MESSAGES = [
    Message(role="system", content="You design ML experiments."),
    Message(role="user", content="Profile: 1200 rows, binary target `failure_24h`."),
]


def _body(server: ScriptedLLMServer, i: int) -> dict[str, Any]:
    body = server.requests[i].body
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("model", MODELS)
def test_structured_output_uses_each_formats_schema_mechanism(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str
) -> None:
    llm_server.add_replies(Reply.structured(GOOD))
    client = client_for(llm_server, model)
    design, usage = client.structured(MESSAGES, Design, purpose="design")
    assert design == Design.model_validate(GOOD)
    assert (usage.input_tokens, usage.output_tokens, usage.calls) == (11, 7, 1)
    body = _body(llm_server, 0)
    assert body["model"] == model.split("/", 1)[1]
    if model.startswith("openai/"):  # Responses API: text.format json_schema
        assert llm_server.requests[0].path == "/v1/responses"
        fmt = body["text"]["format"]
        assert fmt["type"] == "json_schema" and fmt["name"] == "Design" and fmt["strict"]
        assert body["input"][1] == {"role": "user", "content": MESSAGES[1].content}
    elif model.startswith("anthropic/"):  # a forced tool whose input schema is the model's
        assert llm_server.requests[0].path == "/v1/messages"
        assert body["tool_choice"] == {"type": "tool", "name": "Design"}
        assert body["tools"][0]["input_schema"]["required"] == ["experiments"]
        assert body["system"] == MESSAGES[0].content
        assert [m["role"] for m in body["messages"]] == ["user"]
    else:  # Chat Completions: response_format json_schema
        assert llm_server.requests[0].path == "/v1/chat/completions"
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Design"
        assert body["messages"][0]["role"] == "system"


@pytest.mark.parametrize("model", MODELS)
def test_text_call(llm_server: ScriptedLLMServer, client_for: MakeClient, model: str) -> None:
    llm_server.add_replies(Reply.say("Stop: the score plateaued."))
    text, usage = client_for(llm_server, model).text(MESSAGES, purpose="review")
    assert text == "Stop: the score plateaued."
    assert usage.calls == 1
    body = _body(llm_server, 0)
    assert "tools" not in body and "response_format" not in body and "text" not in body


@pytest.mark.parametrize("model", MODELS)
def test_one_repair_round_fixes_malformed_json(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str
) -> None:
    bad = {"experiments": [{"algorithm": "xgboost", "n_estimators": 0}]}  # 0 < 1, no rationale
    first = Reply.structured(bad) if model.startswith("anthropic/") else Reply.say("{not json")
    llm_server.add_replies(first, Reply.structured(GOOD))
    design, usage = client_for(llm_server, model).structured(MESSAGES, Design, purpose="design")
    assert design == Design.model_validate(GOOD)
    assert usage.calls == 2 and usage.input_tokens == 22
    repair = json.dumps(_body(llm_server, 1))
    assert "did not match the required JSON schema" in repair
    said = json.dumps(json.dumps(bad))[1:-1] if model.startswith("anthropic/") else "{not json"
    assert said in repair  # the bad reply goes back to the model


@pytest.mark.parametrize("model", MODELS)
def test_exactly_one_repair_round(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str
) -> None:
    llm_server.add_replies(Reply.say("no"), Reply.say("still no"), Reply.structured(GOOD))
    client = client_for(llm_server, model)
    with pytest.raises(LLMOutputError, match="after one repair round"):
        client.structured(MESSAGES, Design, purpose="design")
    assert len(llm_server.requests) == 2
    assert client.meter.totals.calls == 2  # both rounds are paid for


def test_fenced_json_is_accepted_without_repair(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    llm_server.add_replies(Reply.say("Here it is:\n```json\n" + json.dumps(GOOD) + "\n```"))
    client = client_for(llm_server, "openai-compatible/qwen3")
    design, _ = client.structured(MESSAGES, Design, purpose="design")
    assert design.experiments[0].algorithm == "lightgbm"
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize("model", MODELS)
def test_retries_429_honouring_retry_after_and_500(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str, tmp_path: Path
) -> None:
    llm_server.add_replies(
        Reply.error(429, "rate limited", retry_after="0.4"),
        Reply.error(500, "boom"),
        Reply.error(503, "overloaded"),
        Reply.structured(GOOD),
    )
    client = client_for(llm_server, model)
    start = time.monotonic()
    design, usage = client.structured(MESSAGES, Design, purpose="design")
    assert time.monotonic() - start >= 0.4  # Retry-After was honoured
    assert design == Design.model_validate(GOOD) and usage.calls == 1
    assert len(llm_server.requests) == 4
    record = json.loads((tmp_path / "run" / RECORD_FILE).read_text().splitlines()[0])
    assert [a["status"] for a in record["attempts"]] == [429, 500, 503]
    assert record["attempts"][0]["waited_s"] == 0.4


def test_malformed_reply_body_is_retried(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    nan_usage = json.dumps(
        {"choices": [{"message": {"content": json.dumps(GOOD)}}], "usage": {"prompt_tokens": 1}}
    ).replace('"prompt_tokens": 1', '"prompt_tokens": NaN')
    llm_server.add_replies(
        Reply.raw(b'{"choices": [ {"message": '),
        Reply.raw(b"[1, 2]"),
        Reply.raw(nan_usage.encode()),
        Reply.structured(GOOD),
    )
    design, _ = client_for(llm_server, "openai-compatible/qwen3").structured(
        MESSAGES, Design, purpose="design"
    )
    assert design == Design.model_validate(GOOD)
    assert len(llm_server.requests) == 4


def test_retries_are_bounded(llm_server: ScriptedLLMServer, client_for: MakeClient) -> None:
    llm_server.add_replies(*[Reply.error(500, "down")] * 5)
    client = client_for(llm_server, "openai/gpt-5-mini", max_retries=2)
    with pytest.raises(LLMCallError, match="HTTP 500.*after 3 attempts") as info:
        client.text(MESSAGES, purpose="review")
    assert info.value.status == 500 and info.value.attempts == 3
    assert len(llm_server.requests) == 3


def test_a_retry_after_beyond_the_cap_ends_the_call(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    llm_server.add_replies(Reply.error(429, "quota", retry_after="3600"), Reply.say("late"))
    start = time.monotonic()
    with pytest.raises(LLMCallError, match="asks to wait 3600 s"):
        client_for(llm_server, "anthropic/claude-sonnet-4-5").text(MESSAGES, purpose="review")
    assert time.monotonic() - start < 2
    assert len(llm_server.requests) == 1


def test_client_errors_are_not_retried(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    llm_server.add_replies(Reply.error(400, "bad schema"), Reply.error(404, "no such model"))
    client = client_for(llm_server, "openai-compatible/qwen3")
    with pytest.raises(LLMCallError, match="HTTP 400") as info:
        client.text(MESSAGES, purpose="review")
    assert info.value.status == 400 and len(llm_server.requests) == 1
    with pytest.raises(LLMCallError, match="check the model name `qwen3` and the base URL"):
        client.text(MESSAGES, purpose="review")
    assert len(llm_server.requests) == 2


def _wait_for(predicate: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize("model", MODELS)
def test_timeout_per_call_closes_the_connection(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str
) -> None:
    llm_server.add_replies(Reply.say("late").slow(30), Reply.say("late").slow(30))
    client = client_for(llm_server, model, timeout_s=0.8, max_retries=1)
    threads_before = threading.active_count()
    start = time.monotonic()
    with pytest.raises(LLMTimeoutError, match="within 0.8 s on 2 attempt"):
        client.text(MESSAGES, purpose="review")
    elapsed = time.monotonic() - start
    assert 1.6 <= elapsed < 5.0
    assert len(llm_server.requests) == 2
    # the server saw both connections closed by the client: nothing is left running
    assert _wait_for(lambda: llm_server.client_hangups == 2)
    assert threading.active_count() <= threads_before + 2  # only the server's own handlers
    assert _wait_for(lambda: threading.active_count() <= threads_before)


@pytest.mark.parametrize("model", MODELS)
def test_cancel_from_another_thread_aborts_the_call(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str
) -> None:
    llm_server.add_replies(Reply.say("late").slow(30))
    client = client_for(llm_server, model, timeout_s=60)

    def cancel_once_sent() -> None:
        if _wait_for(lambda: len(llm_server.requests) == 1, 20):
            client.cancel()

    threading.Thread(target=cancel_once_sent).start()
    start = time.monotonic()
    with pytest.raises(LLMCancelledError):
        client.structured(MESSAGES, Design, purpose="design")
    assert time.monotonic() - start < 3
    assert _wait_for(lambda: llm_server.client_hangups == 1)
    with pytest.raises(LLMCancelledError):  # refused without a request
        client.text(MESSAGES, purpose="review")
    assert len(llm_server.requests) == 1


def test_budget_in_tokens_stops_calls_before_they_are_sent(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    llm_server.add_replies(
        *[Reply.say("ok", usage=ScriptedUsage(input_tokens=10, output_tokens=10))] * 4
    )
    meter = UsageMeter(max_tokens=35)
    client = client_for(llm_server, "openai/gpt-5-mini", meter=meter)
    client.text(MESSAGES, purpose="a")
    client.text(MESSAGES, purpose="b")  # 40 tokens now: the last call overshoots
    with pytest.raises(LLMBudgetExceeded, match="40 of 35 tokens after 2 calls") as info:
        client.text(MESSAGES, purpose="c")
    assert isinstance(info.value, MLEDojoError)
    assert len(llm_server.requests) == 2


def test_budget_in_dollars_counts_cached_and_output_prices(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    usage = ScriptedUsage(
        input_tokens=1_000_000,
        output_tokens=100_000,
        cached_tokens=400_000,
        reasoning_tokens=60_000,
    )
    llm_server.add_replies(Reply.say("ok", usage=usage), Reply.say("ok", usage=usage))
    meter = UsageMeter(max_usd=0.30)
    client = client_for(llm_server, "anthropic/claude-sonnet-4-5", meter=meter)
    _, first = client.text(MESSAGES, purpose="a")
    # $3/M for 600k fresh input, $0.30/M for 400k cached, $15/M for 100k output
    assert first.usd == pytest.approx(1.8 + 0.12 + 1.5)
    assert (first.input_tokens, first.cached_tokens, first.output_tokens) == (
        1_000_000,
        400_000,
        100_000,
    )
    with pytest.raises(LLMBudgetExceeded, match=r"\$3.4200 of \$0.3000"):
        client.text(MESSAGES, purpose="b")
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize("model", ["openai/gpt-5-mini", "openai-compatible/qwen3"])
def test_reasoning_and_cached_tokens_are_read_from_openai_formats(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str
) -> None:
    usage = ScriptedUsage(
        input_tokens=2000, output_tokens=900, cached_tokens=1500, reasoning_tokens=600
    )
    llm_server.add_replies(Reply.say("ok", usage=usage))
    _, got = client_for(llm_server, model).text(MESSAGES, purpose="a")
    assert (got.input_tokens, got.output_tokens, got.cached_tokens, got.reasoning_tokens) == (
        2000,
        900,
        1500,
        600,
    )
    if model.startswith("openai/"):  # gpt-5-mini: $0.25/M, $0.025/M cached, $2/M out
        assert got.usd == pytest.approx((500 * 0.25 + 1500 * 0.025 + 900 * 2.0) / 1e6)
    else:
        assert got.usd == 0.0  # self-hosted servers cost nothing unless priced


def test_concurrent_calls_share_one_meter(
    llm_server: ScriptedLLMServer, client_for: MakeClient, tmp_path: Path
) -> None:
    llm_server.set_script(lambda request: Reply.structured(GOOD).slow(0.5))
    client = client_for(llm_server, "openai/gpt-5-mini")
    results: list[Design] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(client.structured(MESSAGES, Design, purpose="design")[0])
        )
        for _ in range(4)
    ]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 4 and time.monotonic() - start < 1.5  # at once (serial: 2 s)
    assert client.meter.totals.calls == 4
    lines = (tmp_path / "run" / RECORD_FILE).read_text().splitlines()
    assert sorted(json.loads(line)["call"] for line in lines) == [1, 2, 3, 4]


class Tuned(BaseModel):
    algorithm: str
    hyperparameters: dict[str, float]  # an open mapping: not expressible in OpenAI strict mode


TUNED = {"algorithm": "xgboost", "hyperparameters": {"max_depth": 6.0, "eta": 0.1}}


@pytest.mark.parametrize("model", MODELS)
def test_schemas_strict_mode_cannot_carry_go_in_the_prompt(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str
) -> None:
    llm_server.add_replies(Reply.structured(TUNED))
    tuned, _ = client_for(llm_server, model).structured(MESSAGES, Tuned, purpose="tune")
    assert tuned == Tuned.model_validate(TUNED)
    body = _body(llm_server, 0)
    if model.startswith("anthropic/"):  # tool input schemas take any JSON schema
        assert body["tool_choice"]["name"] == "Tuned"
        return
    assert "response_format" not in body and "text" not in body
    messages = body["messages"] if "messages" in body else body["input"]
    assert [m["role"] for m in messages] == ["system", "user"]  # the schema joins the system
    system = messages[0]["content"]
    assert system.startswith(MESSAGES[0].content) and "matches this JSON schema (`Tuned`)" in system
    assert "hyperparameters" in system


@pytest.mark.parametrize("model", ["openai/gpt-5-mini", "openai-compatible/qwen3"])
def test_a_server_refusing_native_structured_output_gets_the_prompt_form(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str, tmp_path: Path
) -> None:
    llm_server.add_replies(
        Reply.error(400, "response_format json_schema is not supported"),
        Reply.say(json.dumps(GOOD)),
        Reply.say(json.dumps(GOOD)),
    )
    client = client_for(llm_server, model)
    assert client.structured(MESSAGES, Design, purpose="a")[0] == Design.model_validate(GOOD)
    assert client.structured(MESSAGES, Design, purpose="b")[0] == Design.model_validate(GOOD)
    native = "response_format" if model.startswith("openai-compatible/") else "text"
    assert [native in _body(llm_server, i) for i in range(3)] == [True, False, False]
    rounds = [
        (r["purpose"], r["round"], r["request"]["structured"])
        for r in map(json.loads, (tmp_path / "run" / RECORD_FILE).read_text().splitlines())
    ]
    assert rounds == [
        ("a", "first", "native"),
        ("a", "fallback", "prompt"),
        ("b", "first", "prompt"),
    ]


def test_a_token_budget_caps_the_output_of_the_next_call(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    used = ScriptedUsage(input_tokens=800, output_tokens=100)
    llm_server.add_replies(Reply.say("a", usage=used), Reply.say("b"))
    client = client_for(
        llm_server,
        "anthropic/claude-sonnet-4-5",
        meter=UsageMeter(max_tokens=1000),
        max_output_tokens=4000,
    )
    client.text(MESSAGES, purpose="a")
    client.text(MESSAGES, purpose="b")
    assert [_body(llm_server, i)["max_tokens"] for i in range(2)] == [1000, 100]


def test_an_async_caller_cancelling_closes_the_connection(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    import asyncio

    llm_server.add_replies(Reply.say("late").slow(30), Reply.say("next"))
    client = client_for(llm_server, "openai/gpt-5-mini", timeout_s=60)

    async def main() -> None:
        task = asyncio.ensure_future(client.atext(MESSAGES, purpose="a"))
        while not llm_server.requests:
            await asyncio.sleep(0.02)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert _wait_for(lambda: llm_server.client_hangups == 1)
    assert client.text(MESSAGES, purpose="b")[0] == "next"  # only cancel() is terminal


def test_ctrl_c_during_a_call_closes_the_connection(
    llm_server: ScriptedLLMServer, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    llm_server.add_replies(Reply.say("late").slow(30))
    code = (
        "import sys\n"
        "from mledojo.llm import Message, UsageMeter, make_client\n"
        f"c = make_client('openai/gpt-5-mini', meter=UsageMeter(), timeout_s=60,"
        f" base_url={llm_server.openai_base_url!r})\n"
        "print('calling', flush=True)\n"
        "try:\n"
        "    c.text([Message(role='user', content='x')], purpose='a')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "    sys.exit(3)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "calling"
    assert _wait_for(lambda: len(llm_server.requests) == 1, 20)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 3 and proc.stdout.read().strip() == "interrupted"
    assert _wait_for(lambda: llm_server.client_hangups == 1)


@pytest.mark.parametrize("model", MODELS)
def test_an_answer_cut_at_the_output_limit_is_not_repaired(
    llm_server: ScriptedLLMServer, client_for: MakeClient, model: str
) -> None:
    llm_server.add_replies(Reply.say('{"experiments": [{"algo').cut_at_limit(), Reply.say("x"))
    client = client_for(llm_server, model, max_output_tokens=64)
    with pytest.raises(LLMOutputError, match="cut at the output limit of 64 tokens; raise"):
        client.structured(MESSAGES, Design, purpose="design")
    assert len(llm_server.requests) == 1
    text, _ = client.text(MESSAGES, purpose="review")  # a text answer is returned as it is
    assert text == "x"


def test_retry_after_forms() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from mledojo.llm.retry import retry_after as _retry_after

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert _retry_after({"retry-after": "2"}) == 2.0
    assert _retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert 25 < (_retry_after({"retry-after": soon}) or 0) <= 30
    assert _retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00"}) == 0.0  # past, no zone
    assert _retry_after({"retry-after": "soon"}) is None
    assert _retry_after({}) is None


def test_sync_calls_inside_an_event_loop_point_to_the_async_form(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    import asyncio

    from mledojo.llm import LLMError

    client = client_for(llm_server, "openai/gpt-5-mini")

    async def main() -> None:
        client.text(MESSAGES, purpose="a")

    with pytest.raises(LLMError, match="await astructured/atext"):
        asyncio.run(main())
    assert llm_server.requests == []


def test_reply_fields_of_the_wrong_type_are_ignored_and_absurd_counts_are_malformed(
    llm_server: ScriptedLLMServer, client_for: MakeClient
) -> None:
    odd = {"choices": [{"message": {"content": "x", "refusal": {"a": 1}}, "finish_reason": 5}]}
    huge = {"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 10**400}}
    llm_server.add_replies(
        Reply.raw(json.dumps(odd).encode()), *[Reply.raw(json.dumps(huge).encode())] * 4
    )
    client = client_for(llm_server, "openai-compatible/m")
    text, _ = client.text(MESSAGES, purpose="t")  # was a bare pydantic ValidationError
    assert text == "x"
    with pytest.raises(LLMCallError, match="more than 1000000000000 tokens"):  # was OverflowError
        client.text(MESSAGES, purpose="t")
