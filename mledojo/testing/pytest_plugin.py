"""pytest fixture `llm_server`: a started `ScriptedLLMServer` with an empty script.

Use it from a conftest (`from mledojo.testing.pytest_plugin import llm_server`) or with
`-p mledojo.testing.pytest_plugin`; set replies with `llm_server.add_replies(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mledojo.testing.llm_server import ScriptedLLMServer


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    """A scripted LLM server on 127.0.0.1, closed after the test."""
    with ScriptedLLMServer() as server:
        yield server
