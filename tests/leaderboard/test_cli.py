"""The leaderboard commands as a user runs them: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

WriteEpisode = Callable[..., Path]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mledojo.leaderboard.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_build_writes_the_board(write_episode: WriteEpisode, tmp_path: Path) -> None:
    for seed in (0, 1):
        write_episode("leaderboard/submissions/e1", "c1", "alpha", seed, hr=0.8)
        write_episode("leaderboard/submissions/e2", "c1", "beta", seed, hr=0.4)
    res = cli("leaderboard", "build", "--bootstrap", "50", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "alpha" in res.stdout and "0.800" in res.stdout
    board = tmp_path / "leaderboard"
    assert {p.name for p in board.iterdir()} >= {"README.md", "index.html", "board.json"}
    data = json.loads((board / "board.json").read_text())
    assert [a["agent"] for a in data["classes"][0]["agents"]] == ["alpha", "beta"]


def test_build_with_a_spec_and_a_bad_spec(write_episode: WriteEpisode, tmp_path: Path) -> None:
    write_episode("subs", "c1", "alpha", 0, hr=0.8)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([{"budget_class": "default", "competitions": ["c1", "c2"]}]))
    res = cli("leaderboard", "build", "--source", "subs", "--spec", str(spec), cwd=tmp_path)
    assert res.returncode == 1
    assert "spec.json: field `0.seeds`: Field required" in res.stderr
    assert "Traceback" not in res.stderr
    spec.write_text(
        json.dumps([{"budget_class": "default", "competitions": ["c1", "c2"], "seeds": [0]}])
    )
    res = cli("leaderboard", "build", "--source", "subs", "--spec", str(spec), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "0.400" in res.stdout  # c2 was never run: counts as 0


def test_build_without_episodes_says_what_to_do(tmp_path: Path) -> None:
    res = cli("leaderboard", "build", cwd=tmp_path)
    assert res.returncode == 1
    assert "leaderboard/submissions: no such file or folder" in res.stderr
    (tmp_path / "empty").mkdir()
    res = cli("leaderboard", "build", "--source", "empty", cwd=tmp_path)
    assert res.returncode == 1
    assert "no episodes under empty" in res.stderr and "leaderboard submit" in res.stderr


def test_compare_prints_deltas(write_episode: WriteEpisode, tmp_path: Path) -> None:
    for seed, hr in enumerate([0.2, 0.4, 0.6]):
        write_episode("runA", "c1", "old", seed, hr=hr)
        write_episode("runB", "c1", "new", seed, hr=hr + 0.3)
    res = cli("compare", "runA", "runB", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "+0.300" in res.stdout and "0.14" in res.stdout
    res = cli("compare", "runA", "runB", "--json", cwd=tmp_path)
    assert abs(json.loads(res.stdout)["deltas"][0]["delta"] - 0.3) < 1e-9


def test_export_to_a_file_and_a_bad_format(write_episode: WriteEpisode, tmp_path: Path) -> None:
    write_episode("run", "c1", "bot", 0, hr=0.7, public_hrs=[0.4, 0.6])
    res = cli("export", "run", "--format", "chat", "--out", "sft.jsonl", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "exported 1 record(s)" in res.stderr
    assert json.loads((tmp_path / "sft.jsonl").read_text())["messages"][0]["role"] == "system"
    res = cli("export", "run", cwd=tmp_path)
    assert len(res.stdout.splitlines()) == 2
    res = cli("export", "run", "--format", "parquet", cwd=tmp_path)
    assert res.returncode != 0 and "jsonl, chat" in res.stderr
