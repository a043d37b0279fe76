"""The `mledojo` command as a user runs it: a real subprocess, real output, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def mledojo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mledojo.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_help_shows_examples() -> None:
    res = mledojo("--help")
    assert res.returncode == 0
    assert "mledojo run pump-failure --agent baseline" in res.stdout
    sub = mledojo("grade", "--help")
    assert "Example" in sub.stdout and "--part" in sub.stdout


def test_list_shows_pump_failure_and_splits() -> None:
    res = mledojo("list")
    assert res.returncode == 0, res.stderr
    assert "pump-failure" in res.stdout and "roc_auc" in res.stdout
    lite = mledojo("list", "--split", "lite")
    assert "pump-failure" in lite.stdout


def test_unknown_competition_is_one_clear_line() -> None:
    res = mledojo("info", "pump-failur")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "Did you mean `pump-failure" in res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) <= 3


def test_prepare_then_grade_sample_and_invalid(tmp_path: Path) -> None:
    env = {"MLEDOJO_CACHE_DIR": str(tmp_path / "cache")}
    res = mledojo("prepare", "pump-failure", env=env)
    assert res.returncode == 0, res.stderr
    assert "built" in res.stdout
    again = mledojo("prepare", "pump-failure", env=env)
    assert "reused" in again.stdout
    public = Path(again.stdout.split("public:")[1].split()[0])
    graded = mledojo(
        "grade", "pump-failure", str(public / "sample_submission.csv"), "--part", "public", env=env
    )
    assert graded.returncode == 0, graded.stderr
    assert "0.5" in graded.stdout and "HumanRank" in graded.stdout
    assert "reference pool" in graded.stdout
    bad = tmp_path / "bad.csv"
    pd.read_csv(public / "sample_submission.csv").iloc[:-3].to_csv(bad, index=False)
    rejected = mledojo("grade", "pump-failure", str(bad), env=env)
    assert rejected.returncode == 1
    assert "Traceback" not in rejected.stderr
    assert "bad.csv" in rejected.stderr and "missing" in rejected.stderr.lower()


@pytest.mark.parametrize(
    "args",
    [
        ["grade", "pump-failure", "x.csv", "--part", "secret"],
        ["run", "pump-failure", "--sandbox", "vm"],
    ],
)
def test_bad_options_exit_nonzero(args: list[str]) -> None:
    res = mledojo(*args)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
