"""Recording every call to `llm-calls.jsonl` and replaying it without a server or a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from mledojo.llm import (
    RECORD_FILE,
    LLMBudgetExceeded,
    LLMCallError,
    LLMClient,
    LLMOutputError,
    LLMReplayError,
    Message,
    UsageMeter,
    make_client,
)
from mledojo.testing.llm_server import RecordedRequest, Reply, ScriptedLLMServer, ScriptedUsage

from .conftest import MODELS, MakeClient

pytest.importorskip("openai")
pytest.importorskip("anthropic")


class Plan(BaseModel):
    steps: list[str]
    stop: bool


def _episode(client: LLMClient) -> list[object]:
    """A little bot-like conversation: structured (with a repair), text, structured."""
    out: list[object] = []
    msgs = [Message(role="system", content="plan"), Message(role="user", content="go")]
    plan, usage = client.structured(msgs, Plan, purpose="design")
    out += [plan, usage]
    review, usage = client.text(
        [*msgs, Message(role="assistant", content=str(plan))], purpose="review"
    )
    out += [review, usage]
    plan2, usage = client.structured(
        [*msgs, Message(role="user", content=review)], Plan, purpose="next"
    )
    out += [plan2, usage]
    return out


def _script() -> list[Reply]:
    return [
        Reply.error(429, "slow down", retry_after="0.05"),
        Reply.say("```\nnot json at all\n```"),
        Reply.structured({"steps": ["profile", "train"], "stop": False}),
        Reply.say(
            "Scores rose; one more round.",
            usage=ScriptedUsage(input_tokens=50, output_tokens=9, cached_tokens=20),
        ),
        Reply.structured({"steps": ["tune"], "stop": True}),
    ]


def _replay_client(
    replay_dir: Path, record_dir: Path | None, model: str, meter: UsageMeter | None = None
) -> LLMClient:
    return make_client(
        model,
        meter=meter or UsageMeter(),
        replay_dir=replay_dir,
        record_dir=record_dir,
        timeout_s=5,
        max_retries=0,
    )


@pytest.mark.parametrize("model", MODELS)
def test_record_then_replay_is_byte_identical_without_server_or_key(
    llm_server: ScriptedLLMServer,
    client_for: MakeClient,
    model: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llm_server.add_replies(*_script())
    live = client_for(llm_server, model, record_dir=tmp_path / "run1")
    recorded = _episode(live)
    original = (tmp_path / "run1" / RECORD_FILE).read_bytes()
    lines = [json.loads(line) for line in original.splitlines()]
    assert [(r["call"], r["purpose"], r["round"]) for r in lines] == [
        (1, "design", "first"),
        (2, "design", "repair"),
        (3, "review", "first"),
        (4, "next", "first"),
    ]
    assert lines[0]["attempts"][0]["status"] == 429
    assert lines[0]["request"]["messages"][1]["content"] == "go"
    assert lines[0]["reply"]["body"]  # the provider's answer as received
    assert (tmp_path / "run1" / RECORD_FILE).stat().st_mode & 0o777 == 0o600
    llm_server.close()  # nothing to talk to during the replay
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MY_VLLM_KEY"):
        monkeypatch.delenv(var)

    meter = UsageMeter()
    replayed = _episode(_replay_client(tmp_path / "run1", tmp_path / "run2", model, meter))
    assert replayed == recorded
    assert meter.totals == live.meter.totals
    assert (tmp_path / "run2" / RECORD_FILE).read_bytes() == original


def test_divergent_request_names_the_call_and_field(
    llm_server: ScriptedLLMServer, client_for: MakeClient, tmp_path: Path
) -> None:
    llm_server.add_replies(*_script())
    _episode(client_for(llm_server, "openai/gpt-5-mini", record_dir=tmp_path / "run1"))
    client = _replay_client(tmp_path / "run1", None, "openai/gpt-5-mini")
    msgs = [Message(role="system", content="plan"), Message(role="user", content="GO NOW")]
    with pytest.raises(LLMReplayError) as info:
        client.structured(msgs, Plan, purpose="design")
    text = str(info.value)
    assert "diverged at call 1 (design)" in text
    assert "`request.messages[1].content`" in text
    assert "recorded 'go', now 'GO NOW'" in text


def test_a_different_model_or_schema_diverges(
    llm_server: ScriptedLLMServer, client_for: MakeClient, tmp_path: Path
) -> None:
    llm_server.add_replies(Reply.structured({"steps": [], "stop": True}))
    msgs = [Message(role="user", content="go")]
    client_for(llm_server, "openai/gpt-5-mini", record_dir=tmp_path / "r").structured(
        msgs, Plan, purpose="design"
    )
    with pytest.raises(LLMReplayError, match="`request.model` differs"):
        _replay_client(tmp_path / "r", None, "openai/gpt-5").structured(
            msgs, Plan, purpose="design"
        )

    class Other(BaseModel):
        steps: list[str]

    with pytest.raises(LLMReplayError, match="`request.json_schema"):
        _replay_client(tmp_path / "r", None, "openai/gpt-5-mini").structured(
            msgs, Other, purpose="design"
        )


def test_replay_beyond_the_recording_is_an_error(
    llm_server: ScriptedLLMServer, client_for: MakeClient, tmp_path: Path
) -> None:
    llm_server.add_replies(Reply.say("one"))
    msgs = [Message(role="user", content="go")]
    client_for(llm_server, "anthropic/claude-sonnet-4-5", record_dir=tmp_path / "r").text(
        msgs, purpose="a"
    )
    client = _replay_client(tmp_path / "r", None, "anthropic/claude-sonnet-4-5")
    assert client.text(msgs, purpose="a")[0] == "one"
    with pytest.raises(LLMReplayError, match="call 2 .* holds 1 calls and all were replayed"):
        client.text(msgs, purpose="a")


def test_recorded_failures_and_budget_stops_replay_the_same(
    llm_server: ScriptedLLMServer, client_for: MakeClient, tmp_path: Path
) -> None:
    llm_server.add_replies(
        Reply.error(500, "down"),
        Reply.say("nope"),
        Reply.say("nope"),
        Reply.say("fine", usage=ScriptedUsage(input_tokens=90, output_tokens=20)),
    )
    msgs = [Message(role="user", content="go")]

    def run(client: LLMClient) -> list[str]:
        seen = []
        for attempt in (
            lambda: client.text(msgs, purpose="a"),
            lambda: client.structured(msgs, Plan, purpose="b"),
            lambda: client.text(msgs, purpose="c"),
            lambda: client.text(msgs, purpose="d"),
        ):
            try:
                seen.append(str(attempt()[0]))
            except (LLMCallError, LLMOutputError, LLMBudgetExceeded) as exc:
                seen.append(f"{type(exc).__name__}: {exc}")
        return seen

    live = run(
        client_for(
            llm_server,
            "openai/gpt-5-mini",
            max_retries=0,
            meter=UsageMeter(max_tokens=100),
            record_dir=tmp_path / "r1",
        )
    )
    assert live[0].startswith("LLMAccessError")  # a 500 through every retry: an outage
    assert live[1].startswith("LLMOutputError")
    assert live[2] == "fine" and live[3].startswith("LLMBudgetExceeded")
    replay = run(
        _replay_client(
            tmp_path / "r1", tmp_path / "r2", "openai/gpt-5-mini", UsageMeter(max_tokens=100)
        )
    )
    assert replay == live
    assert (tmp_path / "r2" / RECORD_FILE).read_bytes() == (
        tmp_path / "r1" / RECORD_FILE
    ).read_bytes()


def test_a_damaged_recording_names_the_line(tmp_path: Path) -> None:
    (tmp_path / RECORD_FILE).write_text('{"v": 1}\n')
    with pytest.raises(LLMReplayError, match=rf"{RECORD_FILE} line 1: call: Field required"):
        _replay_client(tmp_path, None, "openai/gpt-5-mini")
    with pytest.raises(LLMReplayError, match="No LLM recording"):
        _replay_client(tmp_path / "missing", None, "openai/gpt-5-mini")


def test_replay_and_record_folders_must_differ(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must differ"):
        _replay_client(tmp_path, tmp_path, "openai/gpt-5-mini")


def test_concurrent_calls_replay_in_any_order_and_re_record_the_same_bytes(
    llm_server: ScriptedLLMServer, client_for: MakeClient, tmp_path: Path
) -> None:
    """Experiments of a batch ask concurrently; their replies finish in another order."""
    import threading
    import time

    delays = {"exp-0": 0.8, "exp-1": 0.4, "exp-2": 0.6, "exp-3": 0.0}

    def answer(request: RecordedRequest) -> Reply:
        name = request.body["input"][-1]["content"]
        return Reply.structured({"steps": [name], "stop": False}).slow(delays[name])

    llm_server.set_script(answer)

    def batch(client: LLMClient, order: list[str], pause_s: float) -> dict[str, Plan]:
        out: dict[str, Plan] = {}

        def one(name: str) -> None:
            msgs = [Message(role="user", content=name)]
            out[name] = client.structured(msgs, Plan, purpose="code")[0]

        threads = []
        for name in order:
            threads.append(threading.Thread(target=one, args=(name,)))
            threads[-1].start()
            time.sleep(pause_s)
        for t in threads:
            t.join(10)
        return out

    live = batch(
        client_for(llm_server, "openai/gpt-5-mini", record_dir=tmp_path / "r1"), list(delays), 0.05
    )
    original = (tmp_path / "r1" / RECORD_FILE).read_bytes()
    finished = [
        json.loads(line)["request"]["messages"][0]["content"] for line in original.splitlines()
    ]
    assert finished == ["exp-3", "exp-1", "exp-2", "exp-0"]  # completion order, not start order
    replayed = batch(
        _replay_client(tmp_path / "r1", tmp_path / "r2", "openai/gpt-5-mini"),
        list(reversed(delays)),
        0.0,
    )
    assert replayed == live
    assert (tmp_path / "r2" / RECORD_FILE).read_bytes() == original
