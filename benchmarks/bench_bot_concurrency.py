"""MLE-Bot: a batch of experiments run concurrently vs one after another, in one run.

Each experiment waits on the model (orchestration code) and then on its tools. Tool calls
go through the episode one at a time (the episode is single-threaded and the container's
CPU limit is what bounds the work); the bot overlaps the model calls and the Monty runs of
a batch. The figure is the wall time of one whole episode (titanic, local sandbox, a
scripted LLM answering after `--latency` seconds, 3 experiments), concurrent against the
sequential reference measured in the same run.

    .venv/bin/python benchmarks/bench_bot_concurrency.py --latency 2 --repeats 2

`--smoke` (what CI runs, seconds): `--latency 0.2 --repeats 1`; same code path, same lines.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import mledojo
from mledojo.bot.engine import BotConfig, MLEBot
from mledojo.testing.llm_server import ScriptedLLMServer
from mledojo.testing.scripted_bot import DESIGN, ScriptedEngineer

THREE = {
    **DESIGN,
    "experiments": [
        *DESIGN["experiments"],
        {
            "name": "forest_raw",
            "algorithm": "random_forest",
            "params": [{"name": "n_estimators", "value": 100}],
            "feature_strategy": "raw",
            "rationale": "a forest",
        },
    ],
}


def one(concurrent: bool, latency: float, runs: Path, sandbox: str) -> float:
    with ScriptedLLMServer(ScriptedEngineer(THREE, latency_s=latency)) as server:
        env = mledojo.make("titanic", sandbox=sandbox, runs_dir=runs, agent="mle-bot")
        try:
            _, info = env.reset(seed=0)
            config = BotConfig(
                model="openai/gpt-5-mini",
                model_base_url=server.openai_base_url,
                max_iterations=1,
                concurrent=concurrent,
            )
            t0 = time.perf_counter()
            MLEBot(env, config).run(dict(info["task"]))
            took = time.perf_counter() - t0
            result = env.result()
            if result is None or not result.final.graded:
                raise SystemExit("the episode was not graded: the benchmark is void")
        finally:
            env.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per model reply")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sandbox", default="local")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.latency, args.repeats = 0.2, 1
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    warm = mledojo.make("titanic", sandbox="local")  # grading's lazy imports, before it forks
    with contextlib.suppress(Exception):  # (needed on branches without main's 2145a3f)
        warm.scorer.score(warm.data.public_dir / "sample_submission.csv", part="public")
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        seq, con = [], []
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            seq.append(one(False, args.latency, runs, args.sandbox))
            con.append(one(True, args.latency, runs, args.sandbox))
    s, c = statistics.median(seq), statistics.median(con)
    print(f"model latency {args.latency:.1f} s, 3 experiments, {args.sandbox} sandbox")
    print(f"sequential (reference): {s:.2f} s   concurrent: {c:.2f} s   speed-up: {s / c:.2f}x")


if __name__ == "__main__":
    main()
