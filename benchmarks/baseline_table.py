"""Run the baseline agent on every Kaggle competition and print a Markdown table.

    MLEDOJO_KAGGLE_DIR=../shared/datasets/kaggle .venv/bin/python benchmarks/baseline_table.py \
        [--sandbox docker|local] [--split kaggle] [--seed 0] [--runs-dir runs/baseline-table]

Each row: the private-part score, HumanRank and medal of one episode (data seed = the
competition's default, agent seed `--seed`), against the competition's real Kaggle board.

`--smoke` (what CI runs, seconds): one small competition (`titanic`), run folder under
`$MLEDOJO_RUNS_DIR` (else `runs/`); same code path, same table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mledojo
from mledojo.artifacts import EpisodeResult
from mledojo.layout import default_runs_dir, new_run_id
from mledojo.play import run_episode
from mledojo.resolve import resolve_spec

HEADER = (
    "| competition | metric | baseline score (private part) | HumanRank | medal | board teams "
    "| wall time (s) |\n|---|---|---|---|---|---|---|"
)
SMOKE_COMPETITION = "titanic"


def row(cid: str, result: EpisodeResult) -> str:
    """One Markdown table row for an episode's result."""
    final = result.final
    arrow = "↑" if result.higher_is_better else "↓"
    if not final.graded or final.private_score is None:
        return f"| {cid} | {result.metric} {arrow} | not graded ({final.reason}) | | | | |"
    rank = "" if final.private_human_rank is None else f"{final.private_human_rank:.3f}"
    medal = final.medal if final.medal not in (None, "none") else "-"
    return (
        f"| {cid} | {result.metric} {arrow} | {final.private_score:.5f} | {rank} | {medal} "
        f"| {final.leaderboard_entries or ''} | {result.wall_time_s:.0f} |"
    )


def main() -> None:
    """Parse arguments, run one episode per competition, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default="docker", choices=["docker", "local"])
    parser.add_argument("--split", default="kaggle")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/baseline-table"))
    parser.add_argument("--smoke", action="store_true", help="one small competition (CI)")
    args = parser.parse_args()
    competitions = mledojo.list_competitions(args.split)
    if args.smoke:
        competitions = [SMOKE_COMPETITION]
        args.runs_dir = default_runs_dir()
    run_id = new_run_id()
    lines = [HEADER]
    t0 = time.monotonic()
    for cid in competitions:
        request = resolve_spec(
            competition=cid, agent="baseline", seed=args.seed, sandbox=args.sandbox
        )
        result = run_episode(request, runs_dir=args.runs_dir, run_id=run_id)
        lines.append(row(cid, result))
        print(lines[-1], flush=True)
    print(
        f"\n(all episodes: {time.monotonic() - t0:.0f} s, sandbox {args.sandbox}, "
        f"run folder {args.runs_dir / run_id})\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
