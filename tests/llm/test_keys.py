"""API keys: read from the host environment only, and never in a record, a log or an error."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from mledojo.llm import (
    RECORD_FILE,
    LLMCallError,
    Message,
    MissingAPIKeyError,
    ModelNameError,
    PriceTableError,
    SDKNotInstalledError,
    UsageMeter,
    make_client,
)
from mledojo.testing.llm_server import RecordedRequest, Reply, ScriptedLLMServer

from .conftest import MODELS, SENTINELS, MakeClient

pytest.importorskip("openai")
pytest.importorskip("anthropic")

MSGS = [Message(role="user", content="hello")]


def _sent_key(request: RecordedRequest) -> str:
    auth = request.headers.get("authorization", "")
    return request.headers.get("x-api-key") or auth.removeprefix("Bearer ")


@pytest.mark.parametrize(
    ("model", "variable", "api_key_env"),
    [
        ("openai/gpt-5-mini", "OPENAI_API_KEY", None),
        ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY", None),
        ("openai-compatible/qwen3", "MY_VLLM_KEY", "MY_VLLM_KEY"),
    ],
)
def test_a_missing_key_fails_fast_in_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    model: str,
    variable: str,
    api_key_env: str | None,
) -> None:
    monkeypatch.delenv(variable)
    with pytest.raises(MissingAPIKeyError) as info:
        make_client(
            model,
            meter=UsageMeter(),
            base_url="http://127.0.0.1:9/v1",
            api_key_env=api_key_env,
            record_dir=tmp_path,
        )
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{variable} is not set")
    assert info.value.variable == variable
    assert not (tmp_path / RECORD_FILE).exists()


def test_an_empty_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "  ")
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        make_client("openai/gpt-5-mini", meter=UsageMeter())


def test_openai_compatible_needs_no_key_unless_one_is_named(
    llm_server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    llm_server.add_replies(Reply.say("local"))
    client = make_client(
        "openai-compatible/qwen3", meter=UsageMeter(), base_url=llm_server.openai_base_url
    )
    assert client.text(MSGS, purpose="t")[0] == "local"
    assert _sent_key(llm_server.requests[0]) == "EMPTY"
    with pytest.raises(ModelNameError, match="needs a base URL"):
        make_client("openai-compatible/qwen3", meter=UsageMeter())


@pytest.mark.parametrize("model", MODELS)
def test_the_key_never_reaches_a_record_a_log_or_an_error(
    llm_server: ScriptedLLMServer,
    client_for: MakeClient,
    model: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hostile server echoes the key back in a reply body and in an error body."""
    replies = iter(["echo", "echo-retry", "echo-error"])

    def echo(request: RecordedRequest) -> Reply:
        key = _sent_key(request)
        kind = next(replies)
        if kind == "echo":
            return Reply.say(f"your key is {key}")
        if kind == "echo-retry":  # logged as a retry warning
            return Reply.error(503, f"busy, {key}")
        return Reply.error(401, f"Incorrect API key provided: {key}")

    llm_server.set_script(echo)
    caplog.set_level(logging.DEBUG)
    client = client_for(llm_server, model)
    client.text(MSGS, purpose="t")
    with pytest.raises(LLMCallError) as info:
        client.text(MSGS, purpose="t")
    sent = {_sent_key(r) for r in llm_server.requests}
    assert sent & set(SENTINELS), "the key was really sent to the server"
    texts = {
        "error": str(info.value),
        "error args": repr(info.value.args),
        "cause": repr(info.value.__cause__) + repr(info.value.__context__),
        "record": (tmp_path / "run" / RECORD_FILE).read_text(),
        "log": caplog.text,
        "client repr": repr(client) + repr(vars(client).get("_base_url")),
    }
    for where, text in texts.items():
        for sentinel in SENTINELS:
            assert sentinel not in text, f"the key leaked into the {where}"
    assert "[redacted]" in texts["record"] and "[redacted]" in texts["error"]
    assert "rejected the API key" in texts["error"]
    assert "retry 1 of 3" in texts["log"] and "busy, [redacted]" in texts["log"]


def test_a_missing_sdk_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(SDKNotInstalledError, match=r"pip install 'mledojo\[llm\]'"):
        make_client("anthropic/claude-sonnet-4-5", meter=UsageMeter())


def test_a_dollar_budget_needs_a_priced_model() -> None:
    with pytest.raises(PriceTableError, match="No price for openai/gpt-99"):
        make_client("openai/gpt-99", meter=UsageMeter(max_usd=1.0))
    make_client("openai/gpt-99", meter=UsageMeter(max_tokens=1000))  # tokens need no price
