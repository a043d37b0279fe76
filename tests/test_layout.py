"""The run layout: `run.json` once per invocation, safe with processes writing at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mledojo.layout import RunLayout

SUBMITTER = """
from mledojo.agent import Agent


class Submitter(Agent):
    name = "submitter"

    def act(self, observation):
        return {"action": "submit"}
"""


def _record_in_child(folder: str) -> None:
    RunLayout(Path(folder).parent, Path(folder).name).record()


@pytest.mark.slow
def test_processes_recording_at_once_each_keep_their_invocation(tmp_path: Path) -> None:
    """Eight processes record at once; each read-modify-write of run.json keeps the others'."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_record_in_child, args=(str(tmp_path),)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert sorted(i["pid"] for i in manifest["invocations"]) == sorted(p.pid for p in procs)


def test_one_invocation_writes_run_json_once(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path, "r")
    first = layout.record()
    stamp = (layout.folder / "run.json").stat().st_mtime_ns
    again = layout.record()
    assert again == first and len(again.invocations) == 1
    assert (layout.folder / "run.json").stat().st_mtime_ns == stamp  # not rewritten
    with_image = layout.record(image="mledojo-runtime:abc")
    assert with_image.image == "mledojo-runtime:abc" and len(with_image.invocations) == 1


@pytest.mark.slow
def test_a_bench_with_parallel_workers_records_one_invocation(tmp_path: Path) -> None:
    """The bench records itself; its worker processes (two at once here) do not rewrite it."""
    agent = tmp_path / "submitter.py"
    agent.write_text(SUBMITTER)
    runs = tmp_path / "runs"
    cmd = [
        sys.executable, "-m", "mledojo.bench.cli", "bench", "--runs-dir", str(runs), "--plain",
        "--start-interval", "0", "--agents", str(agent), "--competitions", "pump-failure",
        "--seeds", "2", "--workers", "2", "--sandbox", "local", "--max-steps", "2",
        "--run-id", "r", "--no-bundle",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = sorted((runs / "r").glob("pump-failure-v2/submitter/*/result.json"))
    assert len(results) == 2
    manifest = json.loads((runs / "r" / "run.json").read_text())
    assert len(manifest["invocations"]) == 1, manifest["invocations"]
