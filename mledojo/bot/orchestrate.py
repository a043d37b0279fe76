"""Running the LLM's orchestration code on the host, in pydantic-monty.

The code is hostile (an LLM wrote it). It is checked twice: statically here (no import,
no file or reflection builtins, no dunder attributes) so the LLM gets a precise refusal,
and at run time by Monty itself (no filesystem, no network, no host modules; limits on
interpreter time, heap and the number of host calls). The only host function it can
reach is `call_tool(name, args)`, which the bot turns into one `call_tool` step of the
episode, so every real piece of work runs in the episode's container.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

FORBIDDEN_NAMES = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "__import__",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "input",
        "breakpoint",
        "memoryview",
    }
)


class MontyLimits(BaseModel):
    """Limits of one orchestration run (Monty enforces them inside its worker)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_seconds: float = 10.0  # interpreter time, host waits (tool calls) excluded
    max_memory_bytes: int = 64 * 1024 * 1024
    max_tool_calls: int = 12


class OrchestrationOutcome(BaseModel):
    """What one run of orchestration code gave: the result dict, or an error to show."""

    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    stage: str = "run"  # "check" (refused before running), "run", "result"
    output: str = ""
    tool_calls: int = 0
    seconds: float = 0.0


class CodeRefused(ValueError):
    """Orchestration code that breaks a rule, found before it runs."""


def check_code(code: str) -> None:
    """Refuse imports, file/reflection builtins and dunder attributes, naming the line."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise CodeRefused(f"line {e.lineno}: SyntaxError: {e.msg}") from None
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise CodeRefused(
                f"line {line}: imports are not allowed; call tools with call_tool(name, args)"
            )
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            raise CodeRefused(f"line {line}: `{node.id}` is not allowed in orchestration code")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise CodeRefused(f"line {line}: attribute `{node.attr}` is not allowed")
        if isinstance(node, ast.Global | ast.Nonlocal | ast.AsyncFunctionDef | ast.Await):
            raise CodeRefused(f"line {line}: `{type(node).__name__}` is not allowed")


class ToolCallLimit(RuntimeError):
    """The code made more tool calls than its limit."""


def run_orchestration(
    code: str,
    *,
    inputs: dict[str, Any],
    call_tool: Callable[[str, dict[str, Any]], dict[str, Any]],
    limits: MontyLimits,
    pool: Any,
) -> OrchestrationOutcome:
    """Check `code`, run it in a Monty session of `pool` with `inputs` and `call_tool`.

    The code must assign `result`, a dict; the value of `result` is returned. Every
    failure (refusal, exception, limit) becomes an `OrchestrationOutcome` with the error.
    """
    from pydantic_monty import CollectString, MontyCrashedError, MontyError

    t0 = time.monotonic()
    try:
        check_code(code)
    except CodeRefused as e:
        return OrchestrationOutcome(ok=False, error=f"refused: {e}", stage="check")
    calls = 0

    def tool(name: object, args: object = None) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > limits.max_tool_calls:
            raise ToolCallLimit(f"more than {limits.max_tool_calls} tool calls in one experiment")
        if not isinstance(name, str):
            raise TypeError("call_tool(name, args): name must be a string")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise TypeError("call_tool(name, args): args must be a dict")
        return call_tool(name, args)

    out = CollectString(max_bytes=64 * 1024)
    monty_limits: Any = {
        "max_feed_duration_secs": limits.max_seconds,
        "max_memory": limits.max_memory_bytes,
        "max_suspensions": limits.max_tool_calls + 5,
    }
    try:
        with pool.checkout(script_name="experiment.py", limits=monty_limits) as session:
            value = session.feed_run(
                code + "\nresult\n",
                inputs=inputs,
                external_lookup={"call_tool": tool},
                print_callback=out,
            )
    except MontyError as e:
        text = e.display("type-msg") if hasattr(e, "display") else str(e)
        if isinstance(e, MontyCrashedError):
            text = f"the orchestration worker was stopped: {e}"
        if "NameError" in text and "result" in text:
            text += " (the code must assign `result = {'model': ..., 'valid': ..., 'test': ...}`)"
        return _failed(text, calls, t0, out.output)
    if not isinstance(value, dict):
        return _failed(
            f"`result` must be a dict, got {type(value).__name__}", calls, t0, out.output, "result"
        )
    return OrchestrationOutcome(
        ok=True,
        result=value,
        output=out.output[-4000:],
        tool_calls=calls,
        seconds=time.monotonic() - t0,
    )


def _failed(
    error: str, calls: int, t0: float, output: str, stage: str = "run"
) -> OrchestrationOutcome:
    return OrchestrationOutcome(
        ok=False,
        error=error[:4000],
        stage=stage,
        output=output[-4000:],
        tool_calls=calls,
        seconds=time.monotonic() - t0,
    )
