"""Fixtures of the model-layer tests: the scripted server and sentinel API keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mledojo.llm import LLMClient, RetryPolicy, UsageMeter, make_client
from mledojo.testing.llm_server import ScriptedLLMServer
from mledojo.testing.pytest_plugin import llm_server  # noqa: F401 - the fixture

OPENAI_SENTINEL = "sk-test-SENTINEL-openai-5f1e2d3c4b5a"
ANTHROPIC_SENTINEL = "sk-ant-test-SENTINEL-anthropic-9a8b7c6d"
COMPATIBLE_SENTINEL = "vllm-SENTINEL-key-0a1b2c3d4e"
SENTINELS = (OPENAI_SENTINEL, ANTHROPIC_SENTINEL, COMPATIBLE_SENTINEL)
MODELS = ("openai/gpt-5-mini", "anthropic/claude-sonnet-4-5", "openai-compatible/qwen3")
FAST_RETRY = RetryPolicy(base_s=0.01, cap_s=0.05)

MakeClient = Callable[..., LLMClient]


@pytest.fixture(autouse=True)
def sentinel_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every provider's key variable holds a sentinel value that must never leak."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SENTINEL)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_SENTINEL)
    monkeypatch.setenv("MY_VLLM_KEY", COMPATIBLE_SENTINEL)
    monkeypatch.delenv("MLEDOJO_LLM_PRICES", raising=False)


def base_url_for(server: ScriptedLLMServer, model: str) -> str:
    return server.base_url if model.startswith("anthropic/") else server.openai_base_url


@pytest.fixture
def client_for(tmp_path: Path) -> MakeClient:
    """`client_for(server, model, **overrides)`: a client on the scripted server, recording."""

    def make(server: ScriptedLLMServer, model: str, **kw: Any) -> LLMClient:
        options: dict[str, Any] = {
            "meter": UsageMeter(),
            "base_url": base_url_for(server, model),
            "record_dir": tmp_path / "run",
            "timeout_s": 5.0,
            "max_retries": 3,
            "retry": FAST_RETRY,
        }
        if model.startswith("openai-compatible/"):
            options["api_key_env"] = "MY_VLLM_KEY"
        options.update(kw)
        return make_client(model, **options)

    return make
