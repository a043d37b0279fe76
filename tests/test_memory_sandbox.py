"""The in-process test double of `Sandbox`: the conformance checks that apply to it, and
that nobody can take it for a sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import mledojo
from mledojo.errors import SandboxError
from mledojo.sandbox import make_sandbox, sandbox_kinds
from mledojo.sandbox.conformance import (
    CHECK_NAMES,
    CheckContext,
    make_context,
    run_check,
    start_for_checks,
)
from mledojo.testing.memory_sandbox import APPLICABLE_CHECKS, NAME, MemorySandboxDouble


@pytest.fixture(scope="module")
def started(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[MemorySandboxDouble, CheckContext]]:
    ctx = make_context(tmp_path_factory.mktemp("memory-double"))
    sb = start_for_checks(MemorySandboxDouble, ctx)
    assert isinstance(sb, MemorySandboxDouble)
    yield sb, ctx
    sb.stop()


@pytest.mark.parametrize("check", APPLICABLE_CHECKS)
def test_check(started: tuple[MemorySandboxDouble, CheckContext], check: str) -> None:
    sb, ctx = started
    result = run_check(check, sb, ctx)
    assert result.passed, result.detail


def test_the_applicable_checks_are_real_checks() -> None:
    assert set(APPLICABLE_CHECKS) < set(CHECK_NAMES)


def test_it_refuses_to_start_outside_a_pytest_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    ctx = make_context(tmp_path)
    with pytest.raises(SandboxError, match="not a sandbox"):
        start_for_checks(MemorySandboxDouble, ctx)


def test_no_sandbox_name_selects_it() -> None:
    assert NAME not in sandbox_kinds()
    with pytest.raises(ValueError, match="unknown sandbox kind"):
        make_sandbox(NAME)


def test_an_episode_on_it_says_what_ran_it(tmp_path: Path) -> None:
    code = (
        "import os, pandas as pd\n"
        "sub = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/sample_submission.csv')\n"
        "sub.to_csv('submission.csv', index=False)\n"
    )
    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as env:
        env.reset(seed=0)
        obs, *_ = env.step({"action": "execute_code", "code": code})
        assert obs["submission"] == "valid", obs
    result = json.loads(next((tmp_path / "r").rglob("result.json")).read_text())
    assert result["sandbox"]["kind"] == NAME, result["sandbox"]
