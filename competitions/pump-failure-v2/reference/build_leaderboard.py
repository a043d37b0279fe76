"""Build pump-failure v2's reference leaderboard from real runs of the reference pool.

    nice -n 10 python competitions/pump-failure-v2/reference/build_leaderboard.py
    nice -n 10 python competitions/pump-failure-v2/reference/build_leaderboard.py \
        --seeds 1 2 --only gbm-causal

Prepares the evaluation data (data seed 0), runs every solution of `solutions.POOL` on the
public files only, grades each on the public and on the private part of the test set, and
writes `leaderboard/{public,private}.csv` (`rank,score,solution`, best first). The boards are
a reference pool, not humans, and are labelled as such wherever they are shown.

`--seeds` grades on training variants instead (any data seed but 0; `--only` keeps the
entries whose name starts with a prefix) and only prints: compare settings there before
they join the pool, so the evaluation answers never choose an entry.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from mledojo.competition import SPEC_FILE, Competition, CompetitionSpec
from mledojo.data.prepare import prepare
from mledojo.grading.scorer import load_answers
from mledojo.grading.scoring import grade

HERE = Path(__file__).resolve().parent


def _pool() -> tuple:  # type: ignore[type-arg]
    spec = importlib.util.spec_from_file_location(
        "pump_v2_reference_solutions", HERE / "solutions.py"
    )
    if spec is None or spec.loader is None:
        raise SystemExit("cannot import solutions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.POOL  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, nargs="+", help="training variants: print only")
    parser.add_argument("--only", default="", help="entries whose name starts with this")
    args = parser.parse_args(argv)
    # The spec without its leaderboard: the boards are what this script makes.
    raw = yaml.safe_load((HERE.parent / SPEC_FILE).read_text())
    raw.pop("leaderboard", None)
    comp = Competition(spec=CompetitionSpec.model_validate(raw), folder=HERE.parent)
    if args.seeds:
        if comp.spec.split.seed in args.seeds:
            raise SystemExit(f"--seeds: {comp.spec.split.seed} is the evaluation data seed")
        for seed in args.seeds:
            _grade_pool(comp, seed, args.only)
        return
    if args.only:
        raise SystemExit("--only needs --seeds: the board is rebuilt from the whole pool")
    _write(_grade_pool(comp, None, ""))


def _grade_pool(comp: Competition, seed: int | None, only: str) -> list[tuple[str, float, float]]:
    """Run and grade every entry (named `only*`) on one data seed (None: the evaluation's)."""
    started = time.monotonic()
    data = prepare(comp, data_seed=seed)
    train = pd.read_csv(data.public_dir / "train.csv")
    test = pd.read_csv(data.public_dir / "test.csv")
    history = pd.read_csv(data.public_dir / "history.csv")
    answers = load_answers(comp, data)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in _pool():
            if not entry.name.startswith(only):
                continue
            t0 = time.monotonic()
            sub = pd.DataFrame(
                {"id": test["id"], "failure_24h": entry.predict(train, test, history)}
            )
            path = Path(tmp) / f"{entry.name}.csv"
            sub.to_csv(path, index=False)
            public = grade(comp.spec, path, answers, part="public")
            private = grade(comp.spec, path, answers, part="private")
            print(
                f"seed {data.data_seed} {entry.name:28s} public {public:.5f} "
                f"private {private:.5f} ({time.monotonic() - t0:.1f} s)",
                flush=True,
            )
            rows.append((entry.name, public, private))
    print(f"seed {data.data_seed}: {len(rows)} entries in {time.monotonic() - started:.0f} s")
    return rows


def _write(rows: list[tuple[str, float, float]]) -> None:
    out = HERE.parent / "leaderboard"
    out.mkdir(exist_ok=True)
    for part, col in (("public", 1), ("private", 2)):
        board = sorted(rows, key=lambda r: -r[col])
        pd.DataFrame(
            {
                "rank": range(1, len(board) + 1),
                "score": [round(r[col], 6) for r in board],
                "solution": [r[0] for r in board],
            }
        ).to_csv(out / f"{part}.csv", index=False)
    print(f"wrote {out}/public.csv and {out}/private.csv ({len(rows)} entries)")


if __name__ == "__main__":
    main()
