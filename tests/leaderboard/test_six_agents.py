"""Issue 21's acceptance: the six agents run offline through `mledojo bench` in Docker, and the
board built from that run shows all six, with cost, tokens and intervals, in a real browser.

One competition and one seed (the full `lite` x 2 seeds run is measured in docs/bench.md);
every agent uses its offline path (no key): the MLE-Bot's rules, the scripted conversations
of ReAct, hill-climb, AIDE and mini-swe-agent. AIDE and mini-swe-agent install into their own
cached virtual environments on first use, hence the `thirdparty` marker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mledojo.testing.browser import dump_dom, serve_folder

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.thirdparty,
    pytest.mark.timeout(2400),
]

SIX = ("baseline", "mle-bot", "aide", "mini-swe-agent", "react", "hill-climb")
LLM_AGENTS = {"aide", "mini-swe-agent", "react", "hill-climb"}
COMPETITION = "playground-series-s3e9"  # small, lite, a Kaggle board with medals


def _mledojo(*args: str, runs: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLEDOJO_RUNS_DIR": str(runs), "NO_COLOR": "1"}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(key, None)  # offline: no agent may need a key
    command = [sys.executable, "-m", "mledojo.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=2300)


def test_six_agents_bench_offline_and_their_board_renders(
    runtime_image: str, chromium: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    bench = _mledojo(
        "bench",
        "--agents",
        ",".join(SIX),
        "--competitions",
        COMPETITION,
        "--seeds",
        "1",
        "--sandbox",
        "docker",
        "--runs-dir",
        str(runs),
        "--plain",
        "--json",
        runs=runs,
    )
    assert bench.returncode == 0, (bench.stdout[-3000:], bench.stderr[-3000:])
    report = json.loads(bench.stdout[bench.stdout.index("{") :])
    outcomes = list(report["outcomes"].values())
    assert len(outcomes) == len(SIX), report
    assert all(o["status"] == "completed" and o["private_score"] is not None for o in outcomes), (
        outcomes
    )
    run_dir = Path(report["run_folder"])

    out = tmp_path / "board"
    build = _mledojo("leaderboard", "build", "--source", str(run_dir), "--out", str(out), runs=runs)
    assert build.returncode == 0, build.stderr[-3000:]
    board = json.loads((out / "board.json").read_text())
    (only_class,) = board["classes"]  # one budget class: the bench's defaults
    rows = {r["agent"]: r for r in only_class["agents"]}
    assert set(rows) == set(SIX), sorted(rows)
    for agent in LLM_AGENTS:  # each one's model calls went through a meter
        assert rows[agent]["reported_llm_tokens"] > 0, (agent, rows[agent])

    with serve_folder(out) as base:
        dom = dump_dom(chromium, tmp_path / "profile", f"{base}/index.html")
    shown = set(re.findall(r"<td[^>]*>\s*(" + "|".join(map(re.escape, SIX)) + r")\s*</td>", dom))
    assert shown == set(SIX), f"the page shows {sorted(shown)}"
    assert "[" in dom and "$" in dom  # intervals and dollar columns are on the page
