"""The aide agent's own pieces, without its venv: arguments, the gateway's model aliases and
the driver's stop on a failing model endpoint (aideml alone would retry forever)."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from mledojo.agent import make_agent
from mledojo.errors import MLEDojoError

DRIVER = Path(__file__).resolve().parents[2] / "agents" / "aide" / "driver.py"


def aide(**args: Any) -> Any:
    return make_agent("aide", args)


def test_the_scripted_default_is_a_short_search_and_real_models_get_aideml_defaults() -> None:
    offline, real = aide(), aide(model="openai/gpt-4.1-mini")
    assert (offline.options["steps"], offline.options["num_drafts"]) == (3, 1)
    assert (real.options["steps"], real.options["num_drafts"]) == (20, 5)
    with pytest.raises(MLEDojoError, match="must be at least 1"):
        aide(steps=0)
    with pytest.raises(MLEDojoError, match="cannot be mixed"):
        aide(feedback_model="openai/gpt-4.1-mini")


def test_openai_models_reach_aideml_as_aliases_the_gateway_maps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aideml sends `gpt-*` names to OpenAI's hard-coded endpoint, past the gateway."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + "x" * 20)
    agent = aide(model="openai/gpt-4.1", feedback_model="openai/gpt-4.1-mini")
    with agent.upstream() as (config, model):
        assert model == "aide-code"
        assert config.model_aliases == {"aide-code": "gpt-4.1", "aide-feedback": "gpt-4.1-mini"}
    config_for_driver = agent.driver_config(model)
    assert (config_for_driver["code_model"], config_for_driver["feedback_model"]) == (
        "aide-code",
        "aide-feedback",
    )


def test_claude_models_keep_their_names_and_other_anthropic_names_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-" + "x" * 20)
    agent = aide(model="anthropic/claude-sonnet-4-5")
    with agent.upstream() as (config, _):
        assert config.model_aliases == {} and config.anthropic is not None
    assert agent.driver_config("x")["code_model"] == "claude-sonnet-4-5"
    with pytest.raises(MLEDojoError, match="must be named `claude-"):
        with aide(model="anthropic/opus-next").upstream():
            pass
    with pytest.raises(MLEDojoError, match="same provider"):
        with aide(model="anthropic/claude-sonnet-4-5", feedback_model="openai/gpt-4.1").upstream():
            pass


def load_driver() -> Any:
    """The driver module (it imports aideml only inside its functions)."""
    spec = importlib.util.spec_from_file_location("aide_driver_under_test", DRIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def backoff_record(text: str) -> logging.LogRecord:
    return logging.LogRecord("aide", logging.INFO, __file__, 1, text, None, None)


def test_the_driver_stops_aidemls_endless_retries() -> None:
    driver = load_driver()
    handler = driver.ModelFailures(3)
    handler.emit(backoff_record("Backoff exception: Error code: 502 - upstream unreachable"))
    handler.emit(backoff_record("Backoff exception: Error code: 502 - upstream unreachable"))
    with pytest.raises(driver.ModelUnavailable, match="failed 3 times in a row") as down:
        handler.emit(backoff_record("Backoff exception: Error code: 502 - upstream unreachable"))
    assert down.value.budget is False
    # a new call counts afresh; the budget refusal stops at once
    handler.emit(backoff_record("OpenAI API request: system=..., user=None"))
    assert handler.failures == 0
    with pytest.raises(driver.ModelUnavailable) as spent:
        handler.emit(backoff_record("Backoff exception: Error code: 429 - insufficient_quota"))
    assert spent.value.budget is True
