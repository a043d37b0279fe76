"""How fast `prepare` is: a cached competition (target < 0.3 s), and a split from cold.

One competition (default): the cold build time, the median cached-prepare time, the time
just to read and hash the cached files (the floor a verifying cache cannot beat), the ratios.

    python benchmarks/bench_prepare.py [--competition pump-failure] [--repeat 10]

A split from a cold cache (`--split all`, the catalogue; target: under 5 minutes here):
`MLEDOJO_CACHE_DIR` points at an empty temporary folder, and each competition of the split
is prepared once by `mledojo prepare --split`'s own code (`prepare_split`), timed alone;
prints each competition's seconds, the total and its ratio to the target.

    MLEDOJO_KAGGLE_DIR=../shared/datasets/kaggle python benchmarks/bench_prepare.py --split all

`--smoke` (what CI runs, seconds): `--competition titanic --repeat 2` (a small Kaggle
competition, read from `$MLEDOJO_KAGGLE_DIR`), then the cold split mode on `titanic` alone;
same code paths, same lines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mledojo._files import sha256_file
from mledojo.bench.plan import resolve_competitions
from mledojo.bench.prepare import prepare_split
from mledojo.data.prepare import prepare

TARGET_S = 0.3
SPLIT_TARGET_S = 300.0
"""The whole catalogue from a cold cache, on this 2-core machine (issue 20)."""


def cold_split(split: str) -> int:
    """Prepare every competition of `split` into an empty cache; print the times. 1 if any
    competition failed (its reason is printed)."""
    ids = resolve_competitions([s for s in split.split(",") if s])
    failed = 0
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLEDOJO_CACHE_DIR"] = tmp  # also for anything prepare calls
        for cid in ids:
            t0 = time.perf_counter()
            (row,) = prepare_split(cid, cache_dir=Path(tmp))
            seconds = time.perf_counter() - t0
            total += seconds
            if row.state != "built":
                failed += 1
                print(f"{cid:<50} {row.state}: {row.detail[:200]}")
                continue
            print(f"{cid:<50} {seconds:8.2f} s")
    ratio = total / SPLIT_TARGET_S
    verdict = "PASS" if total < SPLIT_TARGET_S and not failed else "FAIL"
    print(
        f"cold cache, {len(ids)} competitions ({failed} failed): total {total:.1f} s, "
        f"ratio to the {SPLIT_TARGET_S / 60:.0f}-minute target {ratio:.2f} ({verdict})"
    )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--competition", default="pump-failure")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--split", help="time a split (or comma list) from a cold cache")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.split and not args.smoke:
        return cold_split(args.split)
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
    return cold_split(args.competition) if args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
