"""Step latency of today's runner against an older runner, in the same Docker image and run.

The hostile-agent defences (closing inherited descriptors, peer checks, `kill(-1)` after
every step, the control-folder wipe and the wider disk scan) must keep a step within 2x of
the runner before them. This script bind-mounts each runner version into the same runtime
image (the baseline's source comes from git, default `058c911`, the last commit before
those defences), runs `print(1)` and a pandas+sklearn step through each, and prints the
medians and the ratio new/old.

    python benchmarks/bench_runner_overhead.py [--baseline-ref 058c911] [--repeat 30]

`--smoke` (what CI runs, seconds): `--repeat 2` and one round instead of two; same code path,
same lines (the figures are then rough).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_step_latency import PRINT_STEP, RESOURCES, SKLEARN_STEP  # the same steps, same limits

from mledojo.sandbox import _runner
from mledojo.sandbox.client import Transport, UnixSocketTransport
from mledojo.sandbox.docker import DockerSandbox
from mledojo.sandbox.image import build_image

MOUNTED_RUNNER = "/run/mledojo-bench/runner.py"
NEW_ONLY_FLAGS = ("--peer", "--tmp-dir", "--max-files", "--parent-pid", "--lease-timeout")


class LeaselessTransport(UnixSocketTransport):
    """The old runner knows no lease: hold one end of a local socket pair in its place."""

    def lease(self, *, timeout_s: float) -> socket.socket:
        held, other = socket.socketpair()
        other.close()
        return held


class MountedRunnerSandbox(DockerSandbox):
    """DockerSandbox running a given runner file instead of the image's copy."""

    def __init__(self, runner: Path, *, legacy: bool, image: str) -> None:
        super().__init__(image=image)
        self._runner = runner
        self._legacy = legacy

    def _container_kwargs(self, ctl: Path, ws: Path, data: Path, user: str) -> dict[str, Any]:
        kwargs = super()._container_kwargs(ctl, ws, data, user)
        python, _, *args = kwargs["command"]
        if self._legacy:  # the old runner knows none of the new flags (each takes a value)
            kept: list[str] = []
            skip = False
            for arg in args:
                if skip:
                    skip = False
                elif arg in NEW_ONLY_FLAGS:
                    skip = True
                else:
                    kept.append(arg)
            args = kept
        kwargs["command"] = [python, MOUNTED_RUNNER, *args]
        kwargs["volumes"][str(self._runner)] = {"bind": MOUNTED_RUNNER, "mode": "ro"}
        return kwargs

    def _make_transport(self) -> Transport:
        if self._legacy:
            return LeaselessTransport(self._socket_path)
        return super()._make_transport()

    def ping(self) -> dict[str, Any]:
        """The old runner names no protocol; it speaks the subset this script uses."""
        reply = super().ping()
        if self._legacy:
            reply.setdefault("protocol", _runner.PROTOCOL_VERSION)
        return reply


def median_ms(sb: DockerSandbox, code: str, repeat: int) -> float:
    sb.exec(code, timeout_s=60)  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = sb.exec(code, timeout_s=60)
        times.append(time.perf_counter() - t)
        if result.status != "ok":
            raise SystemExit(f"step failed: {result}")
    return statistics.median(times) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--baseline-ref", default="058c911")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    a = p.parse_args()
    rounds = 2
    if a.smoke:
        a.repeat, rounds = 2, 1
    image = build_image().tag
    root = Path(__file__).resolve().parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="mledojo-bench-"))
    old = tmp / "runner_old.py"
    old.write_text(
        subprocess.run(
            ["git", "show", f"{a.baseline_ref}:mledojo/sandbox/_runner.py"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    new = root / "mledojo" / "sandbox" / "_runner.py"
    (tmp / "data").mkdir()
    figures: dict[str, dict[str, float]] = {}
    # Interleave the variants twice so a drift of the machine hits both alike.
    for round_ in range(rounds):
        for name, runner, legacy in (("old", old, True), ("new", new, False)):
            sb = MountedRunnerSandbox(runner, legacy=legacy, image=image)
            sb.start(
                data_dir=tmp / "data",
                workspace=tmp / f"ws-{name}-{round_}",
                resources=RESOURCES,
                labels={"mledojo.run": "bench-runner"},
            )
            try:
                for step, code in (("print", PRINT_STEP), ("sklearn", SKLEARN_STEP)):
                    value = median_ms(sb, code, a.repeat)
                    old_value = figures.setdefault(name, {}).get(step)
                    figures[name][step] = value if old_value is None else min(old_value, value)
            finally:
                sb.stop()
    print(f"image {image}; baseline runner from {a.baseline_ref}; medians of {a.repeat}")
    print(f"{'step':10}{'old runner':>12}{'new runner':>12}{'new/old':>9}  target <= 2.0")
    for step in ("print", "sklearn"):
        o, n = figures["old"][step], figures["new"][step]
        print(f"{step:10}{o:>10.1f}ms{n:>10.1f}ms{n / o:>9.2f}")


if __name__ == "__main__":
    main()
