"""Step latency of DockerSandbox against the naive ways of running a step in Docker.

Prints, in one run, the median round trip of:
  * `exec("print(1)")` and a pandas+sklearn step (LogisticRegression on 1000 rows) through
    DockerSandbox (warm container, fork-server runner, unix socket);
  * the same code with a fresh `docker run --rm <image> python -c` per step;
  * the same code with a fresh `docker exec <container> python -c` per step;
and the ratios, plus `DockerSandbox.start()` time (target: <= 1.5 s) and LocalSandbox's
`start()` and `exec("print(1)")` for reference (`--local-only`: just those, no Docker).
Baselines shell out on purpose: that is what they measure.

    python benchmarks/bench_step_latency.py [--repeat 20] [--baseline-repeat 5] [--local-only]

`--smoke` (what CI runs, seconds): `--repeat 2 --baseline-repeat 1`, two `start()`s instead
of three; same code path, same lines (the figures are then rough).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mledojo.sandbox.docker import DockerSandbox
from mledojo.sandbox.image import build_image
from mledojo.sandbox.local import LocalSandbox
from mledojo.spec import Resources

PRINT_STEP = "print(1)"
SKLEARN_STEP = """
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
df = pd.DataFrame(rng.normal(size=(1000, 10)), columns=[f"x{i}" for i in range(10)])
y = (df.x0 + df.x1 > 0).astype(int)
print(LogisticRegression().fit(df, y).score(df, y))
"""
RESOURCES = Resources(memory_mb=2048, cpus=2)


def median_s(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `fn` over `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _check(result: subprocess.CompletedProcess[bytes]) -> None:
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"exit code {result.returncode}: {detail}")


def docker_run(image: str, code: str) -> None:
    """One step as a fresh container (the slowest baseline)."""
    _check(
        subprocess.run(
            ["docker", "run", "--rm", "--network", "none", image, "python", "-c", code],
            capture_output=True,
            check=False,
        )
    )


def docker_exec(container: str, code: str) -> None:
    """One step as a fresh `docker exec` in an already running container."""
    _check(
        subprocess.run(
            ["docker", "exec", container, "python", "-c", code], capture_output=True, check=False
        )
    )


def local_figures(root: Path, repeat: int, starts_n: int = 3) -> tuple[list[float], float]:
    """LocalSandbox: `start()` times (until the runner answers) and the `print(1)` median."""
    (root / "data").mkdir(exist_ok=True)
    starts = []
    for i in range(starts_n):
        local = LocalSandbox()
        started = time.perf_counter()
        local.start(
            data_dir=root / "data", workspace=root / f"local-ws{i}", resources=RESOURCES, labels={}
        )
        starts.append(time.perf_counter() - started)
        if i < starts_n - 1:
            local.stop()
    try:
        local.exec("pass", timeout_s=60)  # wait for the preloaded imports
        local_print = median_s(lambda: local.exec(PRINT_STEP, timeout_s=60), repeat)
    finally:
        local.stop()
    return starts, local_print


def print_local(starts: list[float], local_print: float) -> None:
    print(
        f"LocalSandbox.start(): median {statistics.median(starts):.3f} s "
        f"(runs: {', '.join(f'{s:.3f}' for s in starts)})"
    )
    print(f"LocalSandbox print: {local_print * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--baseline-repeat", type=int, default=5)
    parser.add_argument("--local-only", action="store_true", help="LocalSandbox figures only")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    starts_n = 3
    if args.smoke:
        args.repeat, args.baseline_repeat, starts_n = 2, 1, 2
    if args.local_only:
        with tempfile.TemporaryDirectory(prefix="mledojo-bench-") as tmp:
            print_local(*local_figures(Path(tmp), args.repeat, starts_n))
        return
    image = build_image().tag
    with tempfile.TemporaryDirectory(prefix="mledojo-bench-") as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        starts = []
        for i in range(starts_n):
            sb = DockerSandbox(image=image)
            started = time.perf_counter()
            sb.start(
                data_dir=root / "data",
                workspace=root / f"ws{i}",
                resources=RESOURCES,
                labels={"mledojo.run": "bench"},
            )
            starts.append(time.perf_counter() - started)
            if i < starts_n - 1:
                sb.stop()
        try:
            sb.exec("pass", timeout_s=60)  # wait for the preloaded imports
            ours = {
                name: median_s(lambda c=code: sb.exec(c, timeout_s=60), args.repeat)
                for name, code in (("print", PRINT_STEP), ("sklearn", SKLEARN_STEP))
            }
            container = sb.container_name or ""
            execs = {
                name: median_s(lambda c=code: docker_exec(container, c), args.baseline_repeat)
                for name, code in (("print", PRINT_STEP), ("sklearn", SKLEARN_STEP))
            }
        finally:
            stop_started = time.perf_counter()
            sb.stop()
            stop_s = time.perf_counter() - stop_started
        runs = {
            name: median_s(lambda c=code: docker_run(image, c), args.baseline_repeat)
            for name, code in (("print", PRINT_STEP), ("sklearn", SKLEARN_STEP))
        }
        local_starts, local_print = local_figures(root, args.repeat, starts_n)
    print(f"image {image}")
    print(
        f"DockerSandbox.start(): median {statistics.median(starts):.3f} s "
        f"(runs: {', '.join(f'{s:.3f}' for s in starts)}); stop(): {stop_s:.3f} s"
    )
    print(
        f"{'step':10} {'DockerSandbox':>14} {'docker exec':>12} {'docker run':>11} "
        f"{'exec/ours':>10} {'run/ours':>9}"
    )
    for name in ("print", "sklearn"):
        print(
            f"{name:10} {ours[name] * 1e3:12.1f}ms {execs[name] * 1e3:10.1f}ms "
            f"{runs[name] * 1e3:9.1f}ms {execs[name] / ours[name]:9.1f}x "
            f"{runs[name] / ours[name]:8.1f}x"
        )
    print_local(local_starts, local_print)


if __name__ == "__main__":
    main()
