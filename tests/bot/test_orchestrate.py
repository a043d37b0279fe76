"""Orchestration code runs in pydantic-monty: only `call_tool` reaches the host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mledojo.bot.orchestrate import CodeRefused, MontyLimits, check_code, run_orchestration

pytest.importorskip("pydantic_monty")


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    from pydantic_monty import Monty

    with Monty(min_processes=1, max_processes=2) as p:
        yield p


class Tools:
    """A stand-in for the env's `call_tool` that records what reached the host."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, args))
        if name == "broken":
            raise RuntimeError("train_model: argument `params.max_depth`: 100 is out of range")
        return {"model": f"/workspace/tools/{args.get('name', 'm')}.model.pkl"}


def run(code: str, pool: Any, **limits: Any) -> tuple[Any, Tools]:
    tools = Tools()
    out = run_orchestration(
        code,
        inputs={"ctx": {"train": "/workspace/tools/t.parquet"}},
        call_tool=tools,
        limits=MontyLimits(**{"max_seconds": 2.0, **limits}),
        pool=pool,
    )
    return out, tools


def test_tool_calls_reach_the_host_and_result_comes_back(pool: Any) -> None:
    code = (
        'm = call_tool("train_model", {"train": ctx["train"], "name": "a"})\n'
        'print("trained")\n'
        'result = {"model": m["model"], "valid": "v", "test": "t"}\n'
    )
    out, tools = run(code, pool)
    assert out.ok, out.error
    assert out.result == {"model": "/workspace/tools/a.model.pkl", "valid": "v", "test": "t"}
    assert tools.calls == [("train_model", {"train": "/workspace/tools/t.parquet", "name": "a"})]
    assert "trained" in out.output and out.tool_calls == 1


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("import os\nresult = {}", "imports are not allowed"),
        ("from pathlib import Path\nresult = {}", "imports are not allowed"),
        ("result = open('/etc/passwd').read()", "`open` is not allowed"),
        ("result = ().__class__.__bases__", "is not allowed"),
        ("result = eval('1')", "`eval` is not allowed"),
        ("result = getattr(ctx, 'x')", "`getattr` is not allowed"),
        ("def f(:\n  pass", "SyntaxError"),
    ],
)
def test_forbidden_code_is_refused_before_it_runs(pool: Any, code: str, says: str) -> None:
    out, tools = run(code, pool)
    assert not out.ok and out.stage == "check"
    assert says in (out.error or "")
    assert tools.calls == []


def test_the_interpreter_is_a_second_wall(pool: Any) -> None:
    """Code that got past the static check would still find no files and no host modules."""
    from pydantic_monty import MontyError

    for code in ("open('/etc/passwd').read()", "import socket", "import os\nos.listdir('/')"):
        with pool.checkout() as session, pytest.raises(MontyError) as info:
            session.feed_run(code)
        assert any(w in str(info.value) for w in ("PermissionError", "ModuleNotFoundError"))
    with pytest.raises(CodeRefused):
        check_code("__import__('os')")


def test_an_endless_loop_is_stopped_by_the_time_limit(pool: Any) -> None:
    out, _ = run("while True:\n    pass\n", pool, max_seconds=0.5)
    assert not out.ok and "TimeoutError" in (out.error or "")
    assert out.seconds < 5


def test_memory_is_limited(pool: Any) -> None:
    out, _ = run("x = [0] * (10 ** 9)\nresult = {}\n", pool)
    assert not out.ok and "MemoryError" in (out.error or "")


def test_tool_calls_are_limited(pool: Any) -> None:
    out, tools = run(
        "for i in range(100):\n    call_tool('train_model', {'name': 'a'})\nresult = {}\n",
        pool,
        max_tool_calls=5,
    )
    assert not out.ok and "more than 5 tool calls" in (out.error or "")
    assert len(tools.calls) == 5


def test_a_tool_error_comes_back_as_the_error(pool: Any) -> None:
    out, _ = run("result = call_tool('broken', {})\n", pool)
    assert not out.ok and "params.max_depth" in (out.error or "")


def test_a_missing_result_says_what_to_assign(pool: Any) -> None:
    out, _ = run("x = 1\n", pool)
    assert not out.ok and "must assign `result" in (out.error or "")
    out, _ = run("result = [1]\n", pool)
    assert not out.ok and "must be a dict" in (out.error or "")
