"""The provider key (a canary) through a whole bench: `mledojo bench` runs mini-swe-agent with a
provider model (the scripted server standing in for the provider), writes its bundle, and
`mledojo leaderboard submit` stores the entry. The key is used upstream, and no file of the
run folder, its bundle or the stored entry holds it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from mledojo.bench.bundle import BUNDLE_FILE
from mledojo.testing.llm_server import ScriptedLLMServer
from mledojo.testing.scripted_mini import ScriptedMini

pytestmark = [pytest.mark.thirdparty, pytest.mark.docker, pytest.mark.slow]
COMPETITION = "spaceship-titanic"
BUDGET = {"max_steps": 12, "llm_usd": 1.0}
RESOURCES = {"cpus": 1, "memory_mb": 2048}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mledojo.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=1500)


def _holding(folder: Path, secret: bytes) -> list[str]:
    return [
        str(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and secret in p.read_bytes()
    ]


@pytest.mark.timeout(1500)
def test_the_key_stays_out_of_the_run_its_bundle_and_the_board_entry(
    runtime_image: str, tmp_path: Path
) -> None:
    canary = "sk-canary-" + secrets.token_hex(16)
    env = {**os.environ, "OPENAI_API_KEY": canary, "NO_COLOR": "1"}
    runs = tmp_path / "runs"
    with ScriptedLLMServer(ScriptedMini()) as provider:
        bench = _cli(
            "bench",
            "--agents",
            "mini-swe-agent",
            "--competitions",
            COMPETITION,
            "--seeds",
            "1",
            "--sandbox",
            "docker",
            "--agent-arg",
            "mini-swe-agent:model=openai/gpt-4.1-mini",
            "--agent-arg",
            f"mini-swe-agent:model_base_url={provider.openai_base_url}",
            "--max-steps",
            str(BUDGET["max_steps"]),
            "--max-llm-usd",
            str(BUDGET["llm_usd"]),
            "--cpus",
            str(RESOURCES["cpus"]),
            "--memory-mb",
            str(RESOURCES["memory_mb"]),
            "--runs-dir",
            str(runs),
            "--plain",
            "--json",
            env=env,
        )
        requests = list(provider.requests)
    assert bench.returncode == 0, (bench.stdout[-3000:], bench.stderr[-3000:])
    report = json.loads(bench.stdout[bench.stdout.index("{") :])
    (outcome,) = report["outcomes"].values()
    assert outcome["status"] == "completed" and outcome["private_score"] is not None, outcome
    assert requests and all(r.headers.get("authorization") == f"Bearer {canary}" for r in requests)

    spec = {
        "seeds": [0],
        "budget": BUDGET,
        "resources": RESOURCES,
        "competitions": [{"id": COMPETITION, "version": 1, "data_seed": 0}],
    }
    board_spec = tmp_path / "board.yaml"
    board_spec.write_text(json.dumps({"schema_version": 1, "classes": [spec]}))
    entries = tmp_path / "entries"
    run_dir = Path(report["run_folder"])
    submit = _cli(
        "leaderboard",
        "submit",
        str(run_dir),
        "--name",
        "canary",
        "--board-spec",
        str(board_spec),
        "--out",
        str(entries),
        env=env,
    )
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
    assert list(entries.rglob("*")), "no entry was stored"
    assert (run_dir / BUNDLE_FILE).is_file(), "the bench wrote no bundle manifest"
    assert _holding(run_dir, b"gpt-4.1-mini"), "the scan reads the run's files"  # it can find
    leaked = _holding(run_dir, canary.encode()) + _holding(entries, canary.encode())
    assert not leaked, leaked
    assert canary not in bench.stdout + bench.stderr + submit.stdout + submit.stderr
