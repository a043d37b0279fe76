"""The scripted AIDE model (the aide agent's offline path) through the real `openai` SDK."""

from __future__ import annotations

import json

import openai

from mledojo.testing.llm_server import ScriptedLLMServer
from mledojo.testing.scripted_aide import (
    BUGGY_SCRIPT,
    DRAFT_SCRIPT,
    IMPROVED_SCRIPT,
    REVIEW_TOOL,
    ScriptedAide,
    review_of,
)

REVIEW_SPEC = {
    "type": "function",
    "function": {"name": REVIEW_TOOL, "parameters": {"type": "object", "properties": {}}},
}


def ask(server: ScriptedLLMServer, prompt: str, *, review: bool = False) -> object:
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)
    tools = {"tools": [REVIEW_SPEC]} if review else {}
    reply = client.chat.completions.create(
        model="scripted", messages=[{"role": "system", "content": prompt}], **tools
    )
    message = reply.choices[0].message
    if review:
        call = (message.tool_calls or [])[0]
        assert call.function.name == REVIEW_TOOL
        return json.loads(call.function.arguments)
    return message.content


def test_draft_improve_and_debug_prompts_get_a_plan_and_one_code_block() -> None:
    script = ScriptedAide([BUGGY_SCRIPT, DRAFT_SCRIPT])
    with ScriptedLLMServer(script) as server:
        first = str(ask(server, "# Introduction\nYou are a Kaggle grandmaster"))
        second = str(ask(server, "# Introduction\nYou are a Kaggle grandmaster"))
        improve = str(ask(server, "# Previous solution\n```python\nx\n```"))
        debug = str(ask(server, "# Previous (buggy) implementation\n```python\nx\n```"))
    assert first.endswith(f"```python\n{BUGGY_SCRIPT}```\n") and not first.startswith("```")
    assert f"```python\n{DRAFT_SCRIPT}```" in second
    assert f"```python\n{IMPROVED_SCRIPT}```" in improve and "median" in improve
    assert f"```python\n{IMPROVED_SCRIPT}```" in debug
    assert script.turns == {"draft": 2, "improve": 1, "debug": 1, "review": 0}


def test_a_review_is_a_function_call_judging_the_quoted_output() -> None:
    with ScriptedLLMServer(ScriptedAide()) as server:
        good = ask(
            server, "# Execution output\nValidation metric (lower is better): 1.25\n", review=True
        )
        bad = ask(server, "# Execution output\nTraceback (most recent call last):\n", review=True)
    assert good == {
        "is_bug": False,
        "summary": "The script ran and printed a validation metric of 1.25.",
        "metric": 1.25,
        "lower_is_better": True,
    }
    assert isinstance(bad, dict) and bad["is_bug"] is True and bad["metric"] is None


def test_the_metric_is_read_only_from_the_execution_output() -> None:
    # a metric line quoted in the code (above the output) is not the script's result
    prompt = (
        "# Implementation\nprint('Validation metric (higher is better): 0.99')\n"
        "# Execution output\nnothing printed\n"
    )
    assert review_of(prompt)["is_bug"] is True
    higher = review_of("# Execution output\nValidation metric (higher is better): 0.5\n")
    assert higher["lower_is_better"] is False and higher["metric"] == 0.5
