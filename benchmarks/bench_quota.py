"""What the per-episode disk quota volume costs: at `start()` and, for the copy-out, at `stop()`.

Prints, in one run and for each backend (Docker, and LocalSandbox when root), the median
`start()` with the quota (`quota_policy="auto"`: make, format and mount the volume) and
without it (`"off"`: the runner's walk only), the ratio, and `stop()` after a typical
workspace (a 10 MB CSV, a 20 MB model, 50 small files) with and without the quota, plus
the copy-out's own time. Resources are the defaults (disk_mb=2048, max_files=100000).

    python benchmarks/bench_quota.py [--repeat 10] [--backend docker|local|both]

`--smoke` (what CI runs, seconds): `--repeat 1` and one filled workspace per policy instead
of at least three; same code path, same lines (the figures are then rough).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mledojo.sandbox.client import RunnerSandbox
from mledojo.sandbox.quota import DiskQuota, QuotaPolicy
from mledojo.spec import Resources

RESOURCES = Resources(memory_mb=2048, cpus=2)
POLICIES_BENCHED: tuple[QuotaPolicy, ...] = ("off", "auto")
TYPICAL_WORKSPACE = """
import os
with open("train_features.csv", "w") as fh:
    row = ",".join(str(i * 0.5) for i in range(20)) + "\\n"
    fh.write(row * (10_000_000 // len(row)))
open("model.pkl", "wb").write(os.urandom(20 * 1024 * 1024))
os.makedirs("notes", exist_ok=True)
for i in range(50):
    open(f"notes/{i}.txt", "w").write("x" * 2000)
"""


def _factory(backend: str) -> Callable[[], RunnerSandbox]:
    if backend == "docker":
        from mledojo.sandbox.docker import DockerSandbox
        from mledojo.sandbox.image import build_image

        image = build_image().tag
        return lambda: DockerSandbox(image=image)
    from mledojo.sandbox.local import LocalSandbox

    return LocalSandbox


def _one(
    factory: Callable[[], RunnerSandbox], policy: QuotaPolicy, root: Path, fill: bool
) -> tuple[float, float, float]:
    """One episode: start() seconds, stop() seconds, copy-out seconds."""
    folder = Path(tempfile.mkdtemp(dir=root))
    data, workspace = folder / "data", folder / "workspace"
    data.mkdir()
    (data / "train.csv").write_text("id,x\n1,2\n")
    sb = factory()
    sb.quota_policy = policy
    started = time.perf_counter()
    sb.start(data_dir=data, workspace=workspace, resources=RESOURCES, labels={})
    start_s = time.perf_counter() - started
    if fill:
        result = sb.exec(TYPICAL_WORKSPACE, timeout_s=120)
        if result.status != "ok":
            raise RuntimeError(f"the workspace step failed: {result}")
    started = time.perf_counter()
    sb.stop()
    stop_s = time.perf_counter() - started
    copy_s = sb.last_copy_out.seconds if sb.last_copy_out is not None else 0.0
    if fill and not (workspace / "model.pkl").is_file():
        raise RuntimeError("the workspace was not kept after stop()")
    shutil.rmtree(folder)
    return start_s, stop_s, copy_s


def _step_latency(
    factory: Callable[[], RunnerSandbox], policy: QuotaPolicy, root: Path, repeat: int
) -> float:
    """Median `exec("print(1)")` in one episode (the runner's disk walk included)."""
    folder = Path(tempfile.mkdtemp(dir=root))
    (folder / "data").mkdir()
    sb = factory()
    sb.quota_policy = policy
    sb.start(
        data_dir=folder / "data", workspace=folder / "workspace", resources=RESOURCES, labels={}
    )
    try:
        sb.exec("print(1)", timeout_s=30)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            sb.exec("print(1)", timeout_s=30)
            times.append(time.perf_counter() - started)
    finally:
        sb.stop()
        shutil.rmtree(folder)
    return statistics.median(times)


def bench_volume(repeat: int, root: Path) -> None:
    """The volume alone: make, format, mount, bind (create) and undo it (release)."""
    made, undone = [], []
    for _ in range(repeat + 1):
        folder = Path(tempfile.mkdtemp(dir=root))
        (folder / "workspace").mkdir()
        (folder / "ctl").mkdir()
        started = time.perf_counter()
        volume = DiskQuota.create(
            workspace=folder / "workspace", control_dir=folder / "ctl", resources=RESOURCES
        )
        made.append(time.perf_counter() - started)
        started = time.perf_counter()
        volume.release()
        undone.append(time.perf_counter() - started)
        shutil.rmtree(folder)
    print(
        f"volume: create {statistics.median(made[1:]) * 1000:.1f} ms, release (empty) "
        f"{statistics.median(undone[1:]) * 1000:.1f} ms (disk_mb={RESOURCES.disk_mb}, "
        f"max_files={RESOURCES.max_files}; median of {repeat})"
    )


def bench(backend: str, repeat: int, root: Path, fills: int) -> None:
    factory = _factory(backend)
    _one(factory, "auto", root, fill=False)  # warm-up (image, imports)
    starts: dict[str, list[float]] = {"off": [], "auto": []}
    stops: dict[str, list[float]] = {"off": [], "auto": []}
    copies: list[float] = []
    steps: dict[str, float] = {}
    for _ in range(repeat):
        for policy in POLICIES_BENCHED:  # interleaved, so drift hits both alike
            start_s, _, _ = _one(factory, policy, root, fill=False)
            starts[policy].append(start_s)
    for _ in range(fills):
        for policy in POLICIES_BENCHED:
            _, stop_s, copy_s = _one(factory, policy, root, fill=True)
            stops[policy].append(stop_s)
            if policy == "auto":
                copies.append(copy_s)
    for policy in POLICIES_BENCHED:
        steps[policy] = _step_latency(factory, policy, root, repeat * 2)
    off, on = statistics.median(starts["off"]), statistics.median(starts["auto"])
    print(
        f"{backend}: start() without quota {off * 1000:.0f} ms, with {on * 1000:.0f} ms "
        f"(+{(on - off) * 1000:.0f} ms, {on / off:.2f}x; median of {repeat})"
    )
    off, on = statistics.median(stops["off"]), statistics.median(stops["auto"])
    print(
        f"{backend}: stop() after a 30 MB / 52-file workspace without quota "
        f"{off * 1000:.0f} ms, with {on * 1000:.0f} ms ({on / off:.2f}x); "
        f"the copy-out itself {statistics.median(copies) * 1000:.0f} ms"
    )
    print(
        f"{backend}: exec('print(1)') without quota {steps['off'] * 1000:.1f} ms, with "
        f"{steps['auto'] * 1000:.1f} ms (median of {repeat * 2})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--backend", choices=("docker", "local", "both"), default="both")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    fills = max(3, args.repeat // 3)
    if args.smoke:
        args.repeat, fills = 1, 1
    backends = ["docker", "local"] if args.backend == "both" else [args.backend]
    if os.geteuid() != 0:
        raise SystemExit("the quota needs root: run this benchmark as root")
    root = Path(tempfile.mkdtemp(prefix="bench-quota-"))
    try:
        bench_volume(args.repeat, root)
        for backend in backends:
            bench(backend, args.repeat, root, fills)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
