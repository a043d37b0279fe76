"""`WrappedAgent` end to end with a tiny venv (a local wheel, no index) and a driver that makes
a real model call through the episode's gateway: the call is metered into the env, recorded
in the run folder; the host's provider key (a canary) reaches the upstream but never the
driver's environment, its config or the run folder (the container: the Docker test of
mini-swe-agent; this sandbox double shares the test process's environment)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.adapters.wrapped import check_no_secrets, host_secrets
from mledojo.errors import MLEDojoError
from mledojo.testing.llm_server import Reply, ScriptedLLMServer
from mledojo.testing.memory_sandbox import MemorySandboxDouble

from .conftest import CALL_MODEL_AND_SUBMIT, TinyAgent, write_driver

DRIVER = (
    """\
import json, os, urllib.request
from mledojo_bridge import Bridge, load_config
import tinyagent

bridge = Bridge.from_env()
config = load_config()
bridge.note("environ " + json.dumps(dict(os.environ)))
bridge.note("config " + json.dumps(config))
"""
    + CALL_MODEL_AND_SUBMIT
)


DRIVER_VARIABLES = (
    *("PATH", "HOME", "TMPDIR", "LANG", "PYTHONUNBUFFERED", "PYTHONPATH"),
    *("MLEDOJO_DRIVER_CONFIG", "MLEDOJO_BRIDGE_FDS", "OPENAI_BASE_URL", "OPENAI_API_KEY"),
    *("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"),
)


@pytest.mark.slow
def test_the_key_stays_on_the_host_and_the_call_is_metered(
    tiny_agent: TinyAgent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "sk-canary-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", canary + "-2")
    monkeypatch.setenv("MY_SERVICE_TOKEN", canary + "-3")
    driver = write_driver(tmp_path, DRIVER)
    env = mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "run")
    with ScriptedLLMServer([Reply.say("hello from upstream")]) as server:
        agent = tiny_agent(driver, server)
        outcome = agent.run(env, seed=0)
    env.close()
    result = env.result()
    assert result is not None and result.status == "completed", result
    assert result.final.graded, result.final
    # the upstream got the real key; the driver only the gateway's token
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"
    notes = outcome.notes
    assert "model said hello from upstream" in notes
    # as root (CI) the driver ran in its jail, and still reached the gateway
    assert agent.last is not None
    assert agent.last.isolation == ("jail" if os.geteuid() == 0 else "none")
    environ = json.loads(notes.split("environ ", 1)[1].split("; config ", 1)[0])
    assert environ["OPENAI_API_KEY"].startswith("mledojo-gw-")
    assert environ["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")
    assert "/usr/local/bin" in environ["PATH"] and "PYTHONPATH" in environ
    assert not any(canary in v for v in environ.values())
    assert set(environ) <= {*DRIVER_VARIABLES, "LC_CTYPE"}, set(environ)
    assert {"HOME", "TMPDIR"} <= set(environ) and "tiny" in environ["HOME"]
    # metered into the env: ScriptedUsage's 11 + 7 tokens
    assert outcome.llm is not None and outcome.llm.calls == 1
    assert result.llm.input_tokens == 11 and result.llm.output_tokens == 7
    exchanges = (tmp_path / "run" / "gateway-exchanges.jsonl").read_text()
    assert "hello from upstream" in exchanges
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert canary.encode() not in path.read_bytes(), path


def test_a_host_credential_is_never_handed_to_a_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", "sk-canary-0123456789")
    found = host_secrets()
    assert "sk-canary-0123456789" in found
    with pytest.raises(MLEDojoError, match="credential"):
        check_no_secrets("the driver's config", '{"key": "sk-canary-0123456789"}', found)
    check_no_secrets("the driver's config", '{"model": "gpt-5-mini"}', found)


@pytest.mark.slow
def test_a_driver_config_with_a_host_key_is_refused_before_the_driver_starts(
    tiny_agent: TinyAgent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "sk-canary-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    driver = write_driver(tmp_path, "raise SystemExit('must not run')\n")
    env = mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "run")
    with ScriptedLLMServer([]) as server:
        agent = tiny_agent(driver, server)
        leaky: Any = agent
        leaky.driver_config = lambda model: {"model": model, "api_key": canary}
        with pytest.raises(MLEDojoError, match="credential"):
            agent.run(env, seed=0)
    env.close()
    assert not (tmp_path / "run" / "tiny" / "driver.log").exists()
