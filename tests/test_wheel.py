"""The built wheel carries the competitions and agents, and they work from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_competitions_and_agents(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("mledojo-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "mledojo/_builtin/competitions/pump-failure/competition.yaml" in names
    assert "mledojo/_builtin/agents/baseline/agent.py" in names
    assert not [n for n in names if n.endswith(".csv") and "leaderboard" not in n]
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import mledojo, mledojo.competition as c, mledojo.agent as a;"
        "print(c.builtin_root()); print(a.builtin_agents_root());"
        "print(','.join(mledojo.list_competitions()));"
        "print(a.load_agent('baseline').name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
    ).stdout.splitlines()
    assert out[0] == str(site / "mledojo" / "_builtin" / "competitions")
    assert out[1] == str(site / "mledojo" / "_builtin" / "agents")
    assert "pump-failure" in out[2].split(",") and "titanic" in out[2].split(",")
    assert out[3] == "baseline"
