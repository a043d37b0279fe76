"""Bench throughput: the same small bench with 1 worker, 2 workers and through Ray.

Runs the baseline on small real competitions (Docker, 1 CPU and 2 GB an episode, a few
steps) in a fresh runs folder per configuration, and prints episodes per hour, the
speed-up of each configuration against 1 local worker (the reference, measured in the
same run), the scheduler's own busy time per episode (its loop outside waiting: admission,
logging, display; target under a second) and the worker round trip beyond the episode's
own wall time (process start, imports, cache checks).

    MLEDOJO_KAGGLE_DIR=../shared/datasets/kaggle \
        python benchmarks/bench_throughput.py [--seeds 2] [--no-ray]

`--smoke` (what CI runs, seconds): titanic only, 2 seeds, no Ray cluster (starting one
takes 15 s); same code path, same table.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from mledojo.bench.display import PlainDisplay
from mledojo.bench.executors import make_executor
from mledojo.bench.plan import make_plan
from mledojo.bench.scheduler import BenchReport, run_bench
from mledojo.sandbox.image import build_image

COMPETITIONS = ["playground-series-s3e12", "titanic"]
SMOKE_COMPETITIONS = ["titanic"]


def one(
    backend: str, workers: int, seeds: int, address: str | None, competitions: list[str]
) -> BenchReport:
    plan = make_plan(
        agents=["baseline"],
        competitions=competitions,
        seeds=list(range(seeds)),
        sandbox="docker",
        budget={"max_steps": 3},
        resources={"cpus": 1, "memory_mb": 2048},
    )
    with tempfile.TemporaryDirectory(prefix="mledojo-throughput-") as tmp:
        runs = Path(tmp)
        run_id = plan.default_run_id()
        chosen = make_executor(backend, runs_dir=runs, run_id=run_id, address=address)
        try:
            return run_bench(
                plan,
                runs_dir=runs,
                run_id=run_id,
                executor=chosen,
                display=PlainDisplay(Console(file=io.StringIO())),
                workers=workers,
                start_interval_s=0.2,
            )
        finally:
            chosen.close()


def ray_head() -> tuple[str, subprocess.Popen[bytes]]:
    """A one-node Ray cluster on loopback (`ray start --head --block`, its own session)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = str(Path(sys.executable).with_name("ray"))
    cmd = [ray, "start", "--head", "--block", "--port", str(port), "--node-ip-address"]
    cmd += ["127.0.0.1", "--include-dashboard=false", "--object-store-memory", str(100 << 20)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    time.sleep(15)  # the head's GCS and raylet come up
    return f"127.0.0.1:{port}", proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = ap.parse_args()
    competitions = COMPETITIONS
    if args.smoke:
        competitions, args.seeds, args.no_ray = SMOKE_COMPETITIONS, 2, True
    build_image()
    configs = [("local", 1), ("local", 2)] + ([] if args.no_ray else [("ray", 2)])
    print(
        f"{'backend':<8}{'workers':>8}{'episodes':>9}{'wall s':>8}{'ep/hour':>9}"
        f"{'speed-up':>10}{'scheduler s/ep':>16}{'worker extra s/ep':>19}",
        flush=True,
    )
    ref: float | None = None
    for backend, workers in configs:
        head = None
        address = None
        if backend == "ray":
            address, head = ray_head()
        try:
            r = one(backend, workers, args.seeds, address, competitions)
        finally:
            if head is not None:
                os.killpg(head.pid, signal.SIGTERM)
                head.wait(timeout=60)
        n = len(r.outcomes)
        bad = [o.status for o in r.outcomes.values() if o.status != "completed"]
        per = r.wall_time_s / n
        ref = per if ref is None else ref
        print(
            f"{backend:<8}{workers:>8}{n:>9}{r.wall_time_s:>8.1f}{3600 / per:>9.0f}"
            f"{ref / per:>9.2f}x{r.scheduler_overhead_s:>16.3f}{r.worker_overhead_s:>19.2f}"
            + (f"  (not completed: {bad})" if bad else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
