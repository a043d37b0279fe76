"""Benchmark the `pump-failure` generator: wall time and peak memory against the targets.

Targets: generation takes at most 5 s and 1 GiB peak memory. Because shared machines are
noisy, the same run also times a reference job on the same table, `pd.read_csv` of the
generated data written to CSV, and prints the ratios to it; a ratio moves far less between
machines and loads than a raw time does.

* time: median of `--runs` calls in this process, after one warm-up call;
* memory: peak resident set size (VmHWM) of a fresh subprocess while it runs the job once
  (after a warm-up run), shown whole and above the RSS just before the job; plus
  tracemalloc's peak of the job's own allocations.

    .venv/bin/python benchmarks/bench_pump_failure_generate.py --runs 5

Exit status 1 if a target is missed. `--smoke` (what CI runs, seconds): `--runs 1` (the
table's size is the generator's own); same code path, same lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd

GENERATOR = Path(__file__).resolve().parents[1] / "competitions" / "pump-failure" / "generate.py"
TARGET_SECONDS = 5.0
TARGET_BYTES = 1 << 30


def load_generator() -> ModuleType:
    """Import competitions/pump-failure/generate.py (its folder name is not importable)."""
    spec = importlib.util.spec_from_file_location("pump_failure_generate", GENERATOR)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def median_seconds(job: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` calls after one untimed warm-up call."""
    job()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        job()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rss_bytes(field: str) -> int:
    """A memory figure of this process from /proc (Linux): `VmRSS` now, `VmHWM` peak.

    Used instead of `ru_maxrss`, which on Linux keeps the parent's peak across fork+exec.
    Falls back to `ru_maxrss` where /proc is missing.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next peak belongs to the job alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def child(job: str, csv_path: str, seed: int) -> None:
    """Subprocess body: run one job once and print its memory figures as JSON.

    `peak` is the whole process's peak RSS during the job (imports included, as they stay
    resident); `baseline` is the RSS just before it; `traced` is tracemalloc's peak of
    the job's own allocations (numpy reports its buffers to tracemalloc).
    """
    gen = load_generator()
    run: Callable[[], object] = (
        (lambda: gen.generate(seed)) if job == "generate" else (lambda: pd.read_csv(csv_path))
    )
    run()  # warm caches and lazy imports, then measure a clean second run
    reset_peak()
    baseline = rss_bytes("VmRSS")
    run()
    peak = rss_bytes("VmHWM")
    tracemalloc.start()
    run()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"peak": peak, "baseline": baseline, "traced": traced}))


def peak_memory(job: str, csv_path: Path, seed: int) -> dict[str, int]:
    """Peak RSS of `job` in a fresh interpreter, so earlier work in this one cannot hide it."""
    cmd = [sys.executable, __file__, "--child", job, "--csv", str(csv_path), "--seed", str(seed)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return result


def report(runs: int, seed: int) -> bool:
    """Measure, print the figures and ratios; return True when both targets are met."""
    gen = load_generator()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "pump.csv"
        gen.generate(seed).to_csv(csv_path, index=False)
        t_gen = median_seconds(lambda: gen.generate(seed), runs)
        t_csv = median_seconds(lambda: pd.read_csv(csv_path), runs)
        m_gen = peak_memory("generate", csv_path, seed)
        m_csv = peak_memory("read_csv", csv_path, seed)
        size = csv_path.stat().st_size
    mib = 1 << 20
    gen_extra, csv_extra = m_gen["peak"] - m_gen["baseline"], m_csv["peak"] - m_csv["baseline"]
    print(f"pump-failure generate(seed={seed}): 175,200 rows; CSV {size / mib:.1f} MiB")
    print(f"time   generate  median of {runs}: {t_gen:.3f} s")
    print(f"       read_csv  median of {runs}: {t_csv:.3f} s  (reference)")
    print(f"       ratio to target 5 s: {t_gen / TARGET_SECONDS:.3f}")
    print(f"       ratio to read_csv:   {t_gen / t_csv:.2f}")
    print(
        f"memory generate  peak RSS {m_gen['peak'] / mib:.0f} MiB "
        f"(+{gen_extra / mib:.0f} MiB over {m_gen['baseline'] / mib:.0f} MiB after imports)"
    )
    print(
        f"       read_csv  peak RSS {m_csv['peak'] / mib:.0f} MiB "
        f"(+{csv_extra / mib:.0f} MiB)  (reference)"
    )
    print(f"       ratio to target 1 GiB (whole process): {m_gen['peak'] / TARGET_BYTES:.3f}")
    print(f"       ratio to read_csv (above baseline):    {gen_extra / max(csv_extra, 1):.2f}")
    print(
        f"       tracemalloc peak: generate {m_gen['traced'] / mib:.0f} MiB, "
        f"read_csv {m_csv['traced'] / mib:.0f} MiB"
    )
    ok = t_gen <= TARGET_SECONDS and m_gen["peak"] <= TARGET_BYTES
    print("targets met" if ok else "TARGET MISSED")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; run either the whole benchmark or one child measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per job (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["generate", "read_csv"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", default="", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs = 1
    if args.child:
        child(args.child, args.csv, args.seed)
        return 0
    return 0 if report(args.runs, args.seed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
