"""Every script in `benchmarks/` runs in its `--smoke` mode and prints its figures.

Three benchmarks once crashed on main unnoticed (issue 18): each now has a smoke mode (the
same code path at tiny sizes, seconds) and this module runs it in a fresh interpreter, as a
user would, and checks the exit status and the line that carries the figure or ratio.
Scripts on the Kaggle data read it through `MLEDOJO_KAGGLE_DIR` (set by tests/conftest.py
from ../shared, or by scripts/test.sh) and fail, not skip, without it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# One group: the smokes run one after another on one worker, beside the rest of the suite.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("benchmarks")]

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SMOKE_TIMEOUT_S = 180
KAGGLE_COMPETITION = "titanic"  # the small competition the Kaggle smoke runs use
NUMBER = r"\d+(\.\d+)?"

docker = pytest.mark.docker
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the disk quota benchmark needs root")


def case(
    script: str, *figures: str, kaggle: bool = False, marks: tuple[pytest.MarkDecorator, ...] = ()
) -> object:
    """One script, the regular expressions its output must match, and its needs."""
    return pytest.param(script, figures, kaggle, id=script.removesuffix(".py"), marks=marks)


CASES = [
    case(
        "baseline_table.py",
        rf"\| titanic \| accuracy ↑ \| {NUMBER} \[{NUMBER}, {NUMBER}\] "
        rf"\| 2 of 2 in \[{NUMBER}, {NUMBER}\] \| {NUMBER} \|",
        rf"resumed bench: {NUMBER} s, 0 episodes replayed",
        kaggle=True,
        marks=(docker,),
    ),
    case(
        "bench_bot_concurrency.py",
        rf"sequential \(reference\): {NUMBER} s +concurrent: {NUMBER} s +speed-up: {NUMBER}x",
        kaggle=True,
    ),
    case(
        "bench_env.py",
        rf"env\.reset \(cached data\), median of 2: {NUMBER} s .*ratio {NUMBER}\)",
        rf"print\(1\) +{NUMBER}ms +{NUMBER}ms +{NUMBER}ms +{NUMBER}x +{NUMBER}x",
        rf"pandas\+sklearn +{NUMBER}ms +{NUMBER}ms +{NUMBER}ms +{NUMBER}x +{NUMBER}x",
        marks=(docker,),
    ),
    case(
        "bench_fork.py",
        rf"fork: {NUMBER} s \| re-execute \(reset \+ 2 steps\): {NUMBER} s \| ratio {NUMBER}x",
        rf"workspace copied: {NUMBER} MB",
        marks=(docker,),
    ),
    case(
        "bench_grading.py",
        rf"text ids, shuffled .* ours/reference +{NUMBER}x \| ours/target +{NUMBER}",
        rf"worst case {NUMBER} s, {NUMBER}x pandas: PASS",
    ),
    case(
        "bench_intervals.py",
        rf"^roc_auc +[\d,]+ rows +\d+ replicates \| metric +{NUMBER} s \| interval +{NUMBER} s",
        rf"^accuracy +[\d,]+ rows .* score {NUMBER} \[{NUMBER}, {NUMBER}\]",
    ),
    case(
        "bench_prepare.py",
        rf"cached prepare \(median\) +{NUMBER} s +ratio to cold {NUMBER}",
        rf"cached / target = {NUMBER}",
        rf"^titanic +{NUMBER} s$",
        rf"cold cache, 1 competitions \(0 failed\): total {NUMBER} s, ratio to the 5-minute "
        rf"target {NUMBER} \(PASS\)",
        kaggle=True,
    ),
    case(
        "bench_pump_failure_generate.py",
        rf"ratio to read_csv: +{NUMBER}",
        rf"ratio to target 1 GiB \(whole process\): {NUMBER}",
        r"targets met",
    ),
    case(
        "bench_quota.py",
        rf"volume: create {NUMBER} ms",
        rf"docker: start\(\) without quota {NUMBER} ms, with {NUMBER} ms .*{NUMBER}x",
        rf"local: stop\(\) after .* \({NUMBER}x\); the copy-out itself {NUMBER} ms",
        marks=(docker, root_only),
    ),
    case(
        "bench_runner_overhead.py",
        rf"print +{NUMBER}ms +{NUMBER}ms +{NUMBER}",
        rf"sklearn +{NUMBER}ms +{NUMBER}ms +{NUMBER}",
        marks=(docker,),
    ),
    case(
        "bench_step_latency.py",
        rf"DockerSandbox\.start\(\): median {NUMBER} s",
        rf"print +{NUMBER}ms +{NUMBER}ms +{NUMBER}ms +{NUMBER}x +{NUMBER}x",
        rf"LocalSandbox print: {NUMBER} ms",
        marks=(docker,),
    ),
    case(
        "bench_throughput.py",
        rf"local +1 +2 +{NUMBER} +{NUMBER} +1\.00x",
        rf"local +2 +2 +{NUMBER} +{NUMBER} +{NUMBER}x +{NUMBER} +{NUMBER}$",
        kaggle=True,
        marks=(docker,),
    ),
    case(
        "route_count.py",
        r"route \(layers\): \d+ stays in \d+ rooms, \d+ climbs",
        r"name lookups: \d+; EpisodeSpec builds: \d+",
    ),
    case(
        "calibrate_pump_failure.py",
        rf"\| 0 \| \d+ \| {NUMBER}% \| {NUMBER}% \| {NUMBER} \| {NUMBER} \| {NUMBER} \|",
        r"^bands: lr_raw in ",
    ),
]


def test_every_benchmark_has_a_case() -> None:
    """A new script in benchmarks/ must join the smoke runs."""
    listed = {p.values[0] for p in CASES}  # type: ignore[attr-defined]
    assert {p.name for p in BENCHMARKS.glob("*.py")} == listed


@pytest.mark.parametrize(("script", "figures", "kaggle"), CASES)
def test_smoke(script: str, figures: tuple[str, ...], kaggle: bool) -> None:
    """`python benchmarks/<script> --smoke` exits 0 and prints its figure lines."""
    if kaggle:
        raw = Path(os.environ.get("MLEDOJO_KAGGLE_DIR", "")) / KAGGLE_COMPETITION
        if not os.environ.get("MLEDOJO_KAGGLE_DIR") or not raw.is_dir():
            pytest.fail(
                f"{script} --smoke reads the Kaggle files of {KAGGLE_COMPETITION}: set "
                "MLEDOJO_KAGGLE_DIR to a folder holding them (e.g. ../shared/datasets/kaggle)"
            )
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
        check=False,
    )
    output = f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, output
    for figure in figures:
        assert re.search(figure, proc.stdout, re.MULTILINE), f"no line matches {figure!r}\n{output}"
