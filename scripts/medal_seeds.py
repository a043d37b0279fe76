"""The audit's reference solution on several data seeds: is one seed's medal status luck?

The leak audit (`mledojo.grading.audit`) grades a default gradient boosting on the
evaluation split's private part only. On a crowded board (the band from median to top is a
few thousandths wide) or a tiny private part, that one draw can land anywhere. This prints,
per competition and data seed (default 0, 1, 2: the evaluation split and two training
variants), the reference's private score, its 95 % interval, its medal and whether it beats
the board's honest top, then the most cautious status those seeds give under the audit's rule
(decision 84), counting a reference at gold as beating the board (docs/decisions.md).

    MLEDOJO_KAGGLE_DIR=../shared/datasets/kaggle OMP_NUM_THREADS=1 \
        .venv/bin/python scripts/medal_seeds.py icr-identify-age-related-conditions
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from mledojo.competition import MedalStatus, get_competition
from mledojo.data.prepare import prepare
from mledojo.grading.audit import INDICATIVE_ROWS, MEDAL_CAUTION
from mledojo.grading.boards import load_leaderboard
from mledojo.grading.plausibility import honest_top
from mledojo.grading.reference import reference_submission
from mledojo.grading.scorer import Scorer


def status(cid: str, seeds: list[int]) -> MedalStatus:
    """Print one line per seed and return the most cautious status measured."""
    comp = get_competition(cid)
    board = comp.spec.leaderboard
    if board is None:
        raise SystemExit(f"{cid} has no leaderboard: its medals mean nothing to measure")
    scores = load_leaderboard(comp.path(board.private))
    top = honest_top(scores, comp.spec.metric.higher_is_better, board.honest_below)
    if top is None:
        raise SystemExit(f"{cid}: no honest entry on its board (`leaderboard.honest_below`)")
    worst: MedalStatus = "informative"
    for seed in seeds:
        data = prepare(comp, data_seed=seed)
        scorer = Scorer(comp, data)
        with tempfile.TemporaryDirectory(prefix="mledojo-medal-seeds-") as folder:
            path = Path(folder) / "reference.csv"
            reference_submission(comp.spec, data.public_dir).to_csv(path, index=False)
            report = scorer.score(path, part="private")
        beats = report.medal == "gold" or scorer.better(report.score, top)
        found: MedalStatus = "informative"
        if beats:
            found = "uninformative"
        elif (report.n_rows or 0) < INDICATIVE_ROWS:
            found = "indicative"
        if MEDAL_CAUTION.index(found) > MEDAL_CAUTION.index(worst):
            worst = found
        low, high = report.interval or (float("nan"), float("nan"))
        print(
            f"{cid} seed {seed} ({data.split}): reference {report.score:.5g} "
            f"[{low:.5g}, {high:.5g}] medal {report.medal or '-'} honest top {top:.5g} "
            f"private rows {report.n_rows} -> {found}"
        )
    print(f"{cid}: {worst} (declared: {board.medals})")
    return worst


def main(argv: list[str] | None = None) -> int:
    """Measure every competition named on the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("competitions", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    for cid in args.competitions:
        status(cid, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
