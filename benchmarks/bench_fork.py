"""`env.fork()` against re-executing the parent's steps in a fresh episode.

A tree search or an RL branch that wants the state after N steps either forks the episode
(copy the workspace, start a new sandbox) or replays: `reset` a fresh episode and run the
same N steps again. Each step here is a real one: read `train.csv`, fit a random forest,
save it with joblib and write a graded submission. Prints, in one run, the time of the
N steps, of `env.fork()` and of the replay (`reset` + N steps), and their ratio.

    python benchmarks/bench_fork.py [--steps 6] [--trees 60] [--rows 60000] [--sandbox docker]

`--smoke` (what CI runs, seconds): `--steps 2 --trees 5 --rows 5000`; same code path, same
lines (the figures are then rough).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import mledojo
from mledojo.env import MLEDojoEnv

COMPETITION = "pump-failure"
STEP = """
import os, joblib, pandas as pd
from sklearn.ensemble import RandomForestClassifier
data = os.environ['MLEDOJO_DATA']
train = pd.read_csv(data + '/train.csv', nrows={rows})
test = pd.read_csv(data + '/test.csv')
features = [c for c in test.columns if train[c].dtype.kind in 'fi' and c != 'id']
model = RandomForestClassifier(n_estimators={trees}, max_depth=8, random_state={step}, n_jobs=1)
model.fit(train[features].fillna(0), train['failure_24h'])
joblib.dump(model, 'model-{step}.joblib')
proba = model.predict_proba(test[features].fillna(0))[:, 1]
pd.DataFrame({{'id': test['id'], 'failure_24h': proba}}).to_csv('submission.csv', index=False)
"""


def steps(count: int, trees: int, rows: int) -> list[dict[str, Any]]:
    return [
        {"action": "execute_code", "code": STEP.format(step=i, trees=trees, rows=rows)}
        for i in range(count)
    ]


def play(env: MLEDojoEnv, actions: list[dict[str, Any]]) -> None:
    for action in actions:
        obs, *_ = env.step(action)
        if obs["status"] != "ok":
            raise SystemExit(f"a step failed: {obs['error_type']}: {obs['stderr'][-2000:]}")


def make(kind: str, folder: Path) -> MLEDojoEnv:
    return mledojo.make(COMPETITION, sandbox=kind, run_dir=folder, budget={"max_steps": 100})


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--trees", type=int, default=60)
    parser.add_argument("--rows", type=int, default=60_000, help="training rows read per step")
    parser.add_argument("--sandbox", default="docker", choices=("docker", "local"))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.trees, args.rows = 2, 5, 5000
    actions = steps(args.steps, args.trees, args.rows)
    mledojo.prepare(COMPETITION)  # cached from here on
    with tempfile.TemporaryDirectory() as tmp:
        with make(args.sandbox, Path(tmp) / "parent") as env:
            env.reset(seed=0)
            t0 = time.perf_counter()
            play(env, actions)
            parent_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            with env.fork() as fork:
                fork_s = time.perf_counter() - t0
                workspace_mb = size_mb(fork.run_folder / "workspace")
                play(fork, actions[:1])  # the fork steps like any episode
        with make(args.sandbox, Path(tmp) / "replay") as replay:
            t0 = time.perf_counter()
            replay.reset(seed=0)
            play(replay, actions)
            replay_s = time.perf_counter() - t0
    print(f"{args.sandbox}: {args.steps} steps of a {args.trees}-tree forest: {parent_s:.2f} s")
    print(f"workspace copied: {workspace_mb:.1f} MB")
    print(
        f"fork: {fork_s:.2f} s | re-execute (reset + {args.steps} steps): {replay_s:.2f} s "
        f"| ratio {replay_s / fork_s:.1f}x"
    )


if __name__ == "__main__":
    main()
