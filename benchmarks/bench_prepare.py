"""How fast a second `prepare` of a cached competition returns (target: < 0.3 s).

Prints, in one run: the cold build time, the median cached-prepare time, the time just to
read and hash the cached files (the floor a verifying cache cannot beat), and the ratios.

    python benchmarks/bench_prepare.py [--competition pump-failure] [--repeat 10]

`--smoke` (what CI runs, seconds): `--competition titanic --repeat 2` (a small Kaggle
competition, read from `$MLEDOJO_KAGGLE_DIR`); same code path, same lines.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mledojo._files import sha256_file
from mledojo.data.prepare import prepare

TARGET_S = 0.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--competition", default="pump-failure")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.competition, args.repeat = "titanic", 2
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        data = prepare(args.competition, cache_dir=tmp)
        cold = time.perf_counter() - t0
        cached, hashing = [], []
        files = [p for p in Path(data.root).rglob("*") if p.is_file()]
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            again = prepare(args.competition, cache_dir=tmp)
            cached.append(time.perf_counter() - t0)
            if not again.reused:
                raise SystemExit("the second prepare did not reuse the cache")
            t0 = time.perf_counter()
            for p in files:
                sha256_file(p)
            hashing.append(time.perf_counter() - t0)
        size = sum(p.stat().st_size for p in files)
    med, floor = statistics.median(cached), statistics.median(hashing)
    print(f"{args.competition}: {len(files)} files, {size / 1e6:.1f} MB")
    print(f"cold prepare            {cold:8.3f} s")
    print(f"cached prepare (median) {med:8.3f} s   ratio to cold {med / cold:.3f}")
    print(f"hash the files (median) {floor:8.3f} s   cached / hashing {med / floor:.2f}")
    print(
        f"target {TARGET_S} s: cached / target = {med / TARGET_S:.2f} "
        f"({'PASS' if med < TARGET_S else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
