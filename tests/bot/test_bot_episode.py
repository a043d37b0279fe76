"""Whole MLE-Bot episodes (real titanic data) with the rules and a scripted LLM, on the
in-process sandbox double except where what the sandbox sees is tested (local sandbox).

The scripted LLM drives the real `openai` / `anthropic` SDKs against the loopback server;
the tools do the real work in the sandbox; grading is real.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mledojo.artifacts import EpisodeResult
from mledojo.bot.engine import BotConfig, MLEBot
from mledojo.bot.schemas import BotState
from mledojo.leaderboard.export import StepRecord, export_run
from mledojo.play import run_episode
from mledojo.resolve import resolve_spec
from mledojo.testing.llm_server import ScriptedLLMServer
from mledojo.testing.replies import Reply

from .conftest import (
    ANTHROPIC_SENTINEL,
    DESIGN,
    OPENAI_SENTINEL,
    ScriptedEngineer,
    files_text,
    llm_lines,
    server_for,
)

pytestmark = pytest.mark.slow
MakeEnv = Callable[..., Any]


def play(env: Any, **config: Any) -> tuple[MLEBot, EpisodeResult]:
    _, info = env.reset(seed=0)
    bot = MLEBot(env, BotConfig(**config))
    bot.run(dict(info["task"]))
    result = env.result()
    assert result is not None
    return bot, result


def state_of(env: Any) -> BotState:
    return BotState.model_validate_json((env.run_folder / "bot" / "state.json").read_text())


def only_in_data(env: Any) -> list[str]:
    """Values that occur once in the training data and nowhere in the task's prose."""
    train = pd.read_csv(env.data.public_dir / "train.csv")
    names = train["Name"].value_counts()
    tickets = train["Ticket"].astype(str).value_counts()
    values = [*names[names == 1].index[:200], *tickets[tickets == 1].index[:200]]
    return [v for v in map(str, values) if len(v) >= 6]


def test_rules_episode_is_graded_with_a_report(make_env: MakeEnv) -> None:
    env = make_env("titanic")
    bot, result = play(env, model="rules", max_iterations=2)
    assert result.status == "completed" and result.final.graded
    assert result.final.private_score is not None and result.final.private_score > 0.7
    state = state_of(env)
    assert len(state.experiments) >= 3 and all(e.status == "ok" for e in state.experiments)
    assert state.best is not None and state.submitted
    assert state.iterations[0].review is not None  # phase 4 ran
    md = (env.run_folder / "report.md").read_text()
    assert "rules (no LLM)" in md and state.best in md and "```python" in md
    # The last rewrite states the outcome the env graded (decision 71).
    assert state.outcome is not None and state.outcome.private_score == result.final.private_score
    assert "private score (" in md
    assert f"**{result.final.private_score:.6g}**" in md
    assert (env.run_folder / "report.html").read_text().startswith("<!doctype html>")
    assert not (env.run_folder / "llm-calls.jsonl").exists()
    assert bot.llm.calls == 0


@pytest.mark.parametrize(
    ("model", "sentinel"),
    [("openai/gpt-5-mini", OPENAI_SENTINEL), ("anthropic/claude-sonnet-4-5", ANTHROPIC_SENTINEL)],
)
def test_llm_episode_sees_only_aggregates_and_keeps_the_key_out(
    make_env: MakeEnv, llm_server: ScriptedLLMServer, model: str, sentinel: str
) -> None:
    engineer = ScriptedEngineer(reviews=("continue", "stop"), explore=["Pclass", "Sex", "Nope"])
    llm_server.set_script(engineer)
    env = make_env("titanic", sandbox="local")  # a real sandbox: what it sees is tested
    # The container (here: the local sandbox's process) gets no key either.
    _, info = env.reset(seed=0)
    obs, *_ = env.step({"action": "execute_code", "code": "import os\nprint(sorted(os.environ))"})
    assert "OPENAI_API_KEY" not in obs["stdout"] and "ANTHROPIC_API_KEY" not in obs["stdout"]
    bot = MLEBot(
        env, BotConfig(model=model, model_base_url=server_for(model, llm_server), max_iterations=2)
    )
    bot.run(dict(info["task"]))
    result = env.result()
    assert result is not None and result.final.graded and result.status == "completed"
    assert engineer.kinds[:1] == ["design"] and "code" in engineer.kinds
    assert engineer.kinds.count("review") == 1  # iteration 2 is the last: no LLM review
    assert llm_server.problems == []
    state = state_of(env)
    assert {e.status for e in state.experiments} == {"ok"} and len(state.iterations) == 2
    # Every request was charged to the env: result.json counts them all.
    assert result.llm.calls == len(llm_server.requests) == len(llm_lines(env.run_folder))
    assert result.llm.input_tokens > 0
    # No value that occurs only in the data appears in any request the model got.
    sent = b"".join(r.raw for r in llm_server.requests).decode()
    recorded = (env.run_folder / "llm-calls.jsonl").read_text()
    leaked = [v for v in only_in_data(env) if v in sent or v in recorded]
    assert leaked == []
    assert "column_profiles" in recorded  # the profile did go (aggregates)
    # The key went into the auth header only: not the run folder.
    for path, data in files_text(env.run_folder):
        assert sentinel.encode() not in data, path
    assert "LLM " + model in (env.run_folder / "report.md").read_text()
    # Phase 4 asked for an exploration; its aggregates reached the next design only.
    assert [e["columns"] for e in state.explorations] == [["Pclass", "Sex"]]
    designs = [r for r in llm_server.requests if b"Iteration 2. Design" in r.raw]
    assert len(designs) == 1 and b"Explorations you asked for" in designs[0].raw


@pytest.mark.parametrize("model", ["openai/gpt-5-mini", "anthropic/claude-sonnet-4-5"])
def test_export_joins_each_llm_call_to_the_step_it_preceded(
    make_env: MakeEnv, llm_server: ScriptedLLMServer, model: str
) -> None:
    """`export --format jsonl` of an LLM agent's episode: each step carries the prompts and
    completions that came before its action (from llm-calls.jsonl), every billed call once,
    in order; the old export gave `llm_messages: null` on every step."""
    engineer = ScriptedEngineer(reviews=("continue", "stop"), bad_code={"lgbm_enc": ["import os"]})
    llm_server.set_script(engineer)
    env = make_env("titanic")
    _, result = play(
        env, model=model, model_base_url=server_for(model, llm_server), max_iterations=2
    )
    records = [StepRecord.model_validate_json(x) for x in export_run(env.run_folder, "jsonl")]
    lines = llm_lines(env.run_folder)
    billed = [line for line in lines if line.get("reply") is not None]
    assert len(billed) == result.llm.calls >= 4  # design, 3 code (one refused), review
    joined = [(r, x) for r in records for x in r.llm_calls or []]
    # Every recorded call is joined once, in the recording's order (none came after the
    # bot's last step), with its tokens.
    assert [x.call for _, x in joined] == [line["call"] for line in lines]
    assert sum(x.input_tokens + x.output_tokens for _, x in joined) == result.llm.tokens
    for record in records:
        if not record.llm_calls:
            assert record.llm_messages is None
            continue
        # messages, then the action, then the observation: the last call's prompt and answer
        assert record.llm_messages == record.llm_calls[-1].messages
        assert record.llm_messages[0]["role"] in ("system", "user")
        assert record.llm_messages[-1]["role"] == "assistant"
        assert record.llm_tokens == sum(x.input_tokens + x.output_tokens for x in record.llm_calls)
    # The design preceded the first step that followed it (the experiments' first tool call),
    # and its completion is the design the scripted model answered.
    first, design = joined[0]
    assert design.purpose == "design-1" and first.action["action"] == "call_tool"
    answer = json.loads(design.messages[-1]["content"])
    assert answer["strategy"] == DESIGN["strategy"]
    assert "Design" in "".join(m["content"] for m in design.messages[:-1])
    # A refused code answer and its repair both precede the experiment's first tool step.
    code = [x for _, x in joined if x.purpose.startswith("code")]
    assert any("import os" in x.messages[-1]["content"] for x in code)


def test_replay_reproduces_the_llm_calls_byte_for_byte(
    make_env: MakeEnv, llm_server: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.set_script(ScriptedEngineer())
    model = "openai/gpt-5-mini"
    env = make_env("titanic")
    play(env, model=model, model_base_url=llm_server.openai_base_url, max_iterations=1)
    first = env.run_folder
    sent = len(llm_server.requests)
    env.close()
    monkeypatch.delenv("OPENAI_API_KEY")  # a replay needs no key and no server
    again = make_env("titanic")
    _, result = play(again, model=model, llm_replay=first, max_iterations=1)
    assert len(llm_server.requests) == sent
    assert (again.run_folder / "llm-calls.jsonl").read_bytes() == (
        first / "llm-calls.jsonl"
    ).read_bytes()
    assert result.final.graded


HOSTILE = [
    "import os\nresult = {'model': os.getcwd()}\n",
    "data = open('/data/train.csv').read()\nresult = {}\n",
    "while True:\n    pass\n",
]


def test_bad_code_is_refused_or_stopped_and_the_error_goes_back(
    make_env: MakeEnv, llm_server: ScriptedLLMServer
) -> None:
    llm_server.set_script(ScriptedEngineer(bad_code={"lgbm_enc": list(HOSTILE)}))
    env = make_env("titanic")
    fast = {"max_seconds": 1.0}
    _, result = play(
        env,
        model="openai/gpt-5-mini",
        model_base_url=llm_server.openai_base_url,
        max_iterations=1,
        retries=3,
        monty=fast,
    )
    state = state_of(env)
    lgbm = next(e for e in state.experiments if e.plan.name == "lgbm_enc")
    errors = [a.error or "" for a in lgbm.attempts]
    assert "imports are not allowed" in errors[0]
    assert "`open` is not allowed" in errors[1]
    assert "TimeoutError" in errors[2]
    assert lgbm.status == "ok" and errors[3] == ""
    retries = [r for r in llm_server.requests if b"Attempt 3 failed" in r.raw]
    assert retries and b"TimeoutError" in retries[0].raw and b"while True" in retries[0].raw
    assert "imports are not allowed" in (env.run_folder / "report.md").read_text()
    assert result.final.graded


def test_retries_run_out_and_the_experiment_is_reported_failed(
    make_env: MakeEnv, llm_server: ScriptedLLMServer
) -> None:
    llm_server.set_script(ScriptedEngineer(bad_code={"lgbm_enc": ["import os\n"] * 5}))
    env = make_env("titanic")
    _, result = play(
        env,
        model="openai/gpt-5-mini",
        model_base_url=llm_server.openai_base_url,
        retries=1,
        max_iterations=1,
    )
    lgbm = next(e for e in state_of(env).experiments if e.plan.name == "lgbm_enc")
    assert lgbm.status == "failed" and len(lgbm.attempts) == 2
    assert result.final.graded  # the other experiment still made the submission


def test_inject_failure_corrupts_the_first_experiment_and_the_bot_recovers(
    make_env: MakeEnv,
) -> None:
    env = make_env("titanic")
    _, result = play(env, model="rules", max_iterations=1, inject_failure=True)
    first = state_of(env).experiments
    broken = [e for e in first if len(e.attempts) > 1]
    assert len(broken) == 1 and "train_modle" in (broken[0].attempts[0].error or "")
    assert broken[0].status == "ok"
    assert result.final.graded


def test_llm_token_budget_truncates_with_the_best_submission_graded(
    make_env: MakeEnv, llm_server: ScriptedLLMServer
) -> None:
    # Scripted replies cost 18 tokens each: design + 2 code + review = 72, then design 2
    # makes 90 > 80, and the episode must end as truncated with the best graded.
    engineer = ScriptedEngineer(reviews=("continue",))
    llm_server.set_script(engineer)
    env = make_env("titanic", budget={"llm_tokens": 80})
    bot, result = play(
        env, model="openai/gpt-5-mini", model_base_url=llm_server.openai_base_url, max_iterations=3
    )
    assert bot.truncated and not bot.terminated
    assert "LLM token budget" in result.final.reason
    assert result.final.graded and result.final.private_score is not None
    assert result.llm.tokens >= 80 and len(llm_server.requests) == 5


def test_a_retried_bot_episode_is_a_fresh_play_within_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_sandbox_kind: str
) -> None:
    """A retry after a crash reuses nothing of the set-aside attempt: every experiment the
    new attempt's checkpoint and report show was trained and scored in its own steps, and
    those steps stay within the episode's budget (the old bot reused the first attempt's
    experiments: their scores appeared with no step behind them)."""
    budget = {"max_tool_calls": 20}
    request = resolve_spec(
        competition="titanic",
        agent="mle-bot",
        agent_args={"max_iterations": 2},
        sandbox=memory_sandbox_kind,
        budget=budget,
    )
    real_review = MLEBot._review

    def crash(self: MLEBot, ctx: Any, iteration: int) -> Any:
        if iteration == 1:
            raise RuntimeError("simulated crash after the first batch")
        return real_review(self, ctx, iteration)

    monkeypatch.setattr(MLEBot, "_review", crash)
    first = run_episode(request, runs_dir=tmp_path, run_id="r1")
    assert first.status == "agent_error"
    monkeypatch.setattr(MLEBot, "_review", real_review)
    second = run_episode(request, runs_dir=tmp_path, run_id="r1", retry=("agent_error",))
    assert second.status == "completed" and second.final.graded
    folders = sorted((tmp_path / "r1").glob("titanic-v1/mle-bot/seed-*"))
    current = next(f for f in folders if ".attempt-" not in f.name)
    old = next(f for f in folders if ".attempt-" in f.name)
    before = BotState.model_validate_json((old / "bot" / "state.json").read_text())
    after = BotState.model_validate_json((current / "bot" / "state.json").read_text())
    assert len(before.experiments) == 3 and all(e.status == "ok" for e in before.experiments)
    assert any("a retry: 1 earlier attempt(s) set aside" in n for n in after.notes)
    steps = [json.loads(line) for line in (current / "trajectory.jsonl").read_text().splitlines()]
    tools = [s["action"].get("tool") for s in steps if s["action"].get("action") == "call_tool"]
    scored = [e for e in after.experiments if e.score is not None]
    assert scored, after.notes
    # Each score in the checkpoint was earned by an evaluate_model step of this attempt.
    assert tools.count("evaluate_model") >= len(scored), (tools, [e.plan.name for e in scored])
    assert tools.count("train_model") >= len(scored)
    # ... and the whole play stays within the budget it is accounted against.
    assert second.tool_calls == len(tools) <= budget["max_tool_calls"]
    assert second.steps == len(steps) - 1  # the reset line is not a step


def test_a_missing_key_fails_at_once_naming_the_variable(
    make_env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mledojo.llm.errors import MissingAPIKeyError

    monkeypatch.delenv("OPENAI_API_KEY")
    env = make_env("titanic")
    _, info = env.reset(seed=0)
    bot = MLEBot(env, BotConfig(model="openai/gpt-5-mini"))
    with pytest.raises(MissingAPIKeyError) as err:
        bot.run(dict(info["task"]))
    assert "OPENAI_API_KEY" in str(err.value) and "\n" not in str(err.value)
    assert bot.steps == 0  # nothing ran before the check


def test_a_replay_that_diverges_is_an_error_naming_the_call(
    make_env: MakeEnv, llm_server: ScriptedLLMServer
) -> None:
    from mledojo.llm.errors import LLMReplayError

    llm_server.set_script(ScriptedEngineer())
    env = make_env("titanic")
    play(
        env, model="openai/gpt-5-mini", model_base_url=llm_server.openai_base_url, max_iterations=1
    )
    again = make_env("titanic")
    _, info = again.reset(seed=0)
    bot = MLEBot(
        again,
        BotConfig(model="openai/gpt-5-mini", llm_replay=env.run_folder, problem="another task"),
    )
    with pytest.raises(LLMReplayError, match="design"):
        bot.run(dict(info["task"]))


def test_replies_that_fail_validation_are_still_charged(
    make_env: MakeEnv, llm_server: ScriptedLLMServer
) -> None:
    """The provider billed every reply, prose too: result.json counts them all."""
    llm_server.set_script(lambda request: Reply.say("I would rather chat about the weather."))
    env = make_env("titanic")
    model = "openai/gpt-5-mini"
    bot, result = play(
        env, model=model, model_base_url=server_for(model, llm_server), max_iterations=1
    )
    billed = len(llm_server.requests)
    assert billed >= 2  # the design and its repair round, at least
    assert result.llm.calls == billed == len(llm_lines(env.run_folder))
    assert bot.llm.calls == billed


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("failure", ["rejected-key", "unreachable", "missing-key"])
def test_a_model_that_cannot_be_used_is_a_model_error_not_a_clean_zero(
    tmp_path: Path,
    llm_server: ScriptedLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    memory_sandbox_kind: str,
) -> None:
    """A fake key, a dead endpoint or no key at all is the operator's configuration."""
    base_url = llm_server.openai_base_url
    if failure == "rejected-key":
        llm_server.set_script(lambda request: Reply.error(401, "Incorrect API key provided"))
    elif failure == "unreachable":
        base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    else:
        monkeypatch.delenv("OPENAI_API_KEY")
    args = {"model": "openai/gpt-5-mini", "model_base_url": base_url, "max_iterations": 1}
    request = resolve_spec(
        competition="titanic", agent="mle-bot", agent_args=args, sandbox=memory_sandbox_kind,
        budget={"max_steps": 20},
    )  # fmt: skip
    result = run_episode(request, runs_dir=tmp_path / "runs", run_id="model-failure")
    assert result.status == "model_error", result.end_reason
    assert "not the agent's result" in result.end_reason
    expected = {"rejected-key": "401", "unreachable": "connection", "missing-key": "OPENAI_API_KEY"}
    assert expected[failure] in result.end_reason
    assert result.error is not None
    # the bench's --retry model plays it again; a plain rerun keeps it
    from mledojo.bench.scheduler import retry_statuses

    assert "model_error" in retry_statuses(["model"])
    assert "model_error" not in retry_statuses([])
