"""`env.reset` and `env.step` round trips, against running each step in Docker naively.

Prints, in one run, medians of:
  * `env.reset()` with cached data (target <= 1.5 s);
  * `env.step(execute_code("print(1)"))` (target <= 20 ms) and a pandas + sklearn step;
  * the same code as a fresh `docker exec <container> python -c` and as a fresh
    `docker run --rm <image> python -c` per step;
and the ratios against those references.

    python benchmarks/bench_env.py [--repeat 20] [--baseline-repeat 5] [--resets 5]

`--smoke` (what CI runs, seconds): `--repeat 2 --baseline-repeat 1 --resets 2`; same code
path, same lines (the figures are then rough).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_step_latency import PRINT_STEP, SKLEARN_STEP, docker_exec, docker_run, median_s  # noqa: E402

import mledojo  # noqa: E402
from mledojo.sandbox.docker import DockerSandbox  # noqa: E402
from mledojo.sandbox.image import build_image  # noqa: E402

RESET_TARGET_S = 1.5
STEP_TARGET_S = 0.020


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--baseline-repeat", type=int, default=5)
    parser.add_argument("--resets", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.repeat, args.baseline_repeat, args.resets = 2, 1, 2
    image = build_image().tag
    mledojo.prepare("pump-failure")  # cached from here on
    with tempfile.TemporaryDirectory() as tmp:
        env = mledojo.make(
            "pump-failure",
            sandbox="docker",
            run_dir=Path(tmp) / "run",
            budget={"max_steps": 10_000},
        )
        try:
            resets = []
            for _ in range(args.resets):
                t0 = time.perf_counter()
                env.reset(seed=0)
                resets.append(time.perf_counter() - t0)
            steps = {
                name: median_s(
                    lambda c=code: env.step({"action": "execute_code", "code": c}), args.repeat
                )
                for name, code in (("print(1)", PRINT_STEP), ("pandas+sklearn", SKLEARN_STEP))
            }
            box = env.episode.sandbox
            container = box.container_name if isinstance(box, DockerSandbox) else None
            execs = {
                name: median_s(lambda c=code: docker_exec(container or "", c), args.baseline_repeat)
                for name, code in (("print(1)", PRINT_STEP), ("pandas+sklearn", SKLEARN_STEP))
            }
        finally:
            env.close()
    runs = {
        name: median_s(lambda c=code: docker_run(image, c), args.baseline_repeat)
        for name, code in (("print(1)", PRINT_STEP), ("pandas+sklearn", SKLEARN_STEP))
    }
    reset = statistics.median(resets)
    print(
        f"env.reset (cached data), median of {args.resets}: {reset:.3f} s "
        f"(target {RESET_TARGET_S} s, ratio {reset / RESET_TARGET_S:.2f})"
    )
    print(
        f"{'step':16s} {'env.step':>10s} {'docker exec':>12s} {'docker run':>11s} "
        f"{'exec/env':>9s} {'run/env':>8s}"
    )
    for name in steps:
        s, e, r = steps[name], execs[name], runs[name]
        print(
            f"{name:16s} {s * 1000:8.1f}ms {e * 1000:10.1f}ms {r * 1000:9.1f}ms "
            f"{e / s:8.1f}x {r / s:7.1f}x"
        )
    trivial = steps["print(1)"]
    print(
        f"print(1) target {STEP_TARGET_S * 1000:.0f} ms: ratio {trivial / STEP_TARGET_S:.2f} "
        f"({'PASS' if trivial <= STEP_TARGET_S else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
