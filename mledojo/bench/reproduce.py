"""`leaderboard reproduce`: the board re-executes a bundle's episodes itself.

Re-grading a bundle only shows that its stored submission grades to its score: anyone can
rebuild the hidden answers (`prepare` is public code plus the data seed) and store a copy.
Here the board plays each episode again with the bundle's agent and arguments, in its own
Docker sandbox, on the spec the plan pins (data seed, budget, resources), with the agent's
recorded LLM exchanges (`llm-calls.jsonl`, carried by a schema-2 bundle) served by
`mledojo.llm`'s replay instead of a model. The episode is `reproduced` when the
re-executed final submission has the bundle's sha256, or, failing that, when its private
score is within the board class's `reproduce_tolerance` of the bundle's; otherwise it is
refused. `live` re-runs the agent without replay, on the operator's own model keys: the
row's numbers are then the board's run (a bundle whose agent arguments name a model
endpoint, `model_base_url`, is never re-run live: the key would go there).

Only agents the board itself has (built-in or an installed entry point) are re-executed: a
file or `module:Class` agent is the submitter's code, and an agent runs on the host.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

from mledojo.agent import load_agent, make_agent
from mledojo.artifacts import INFRA_STATUSES, EpisodeResult
from mledojo.bench.bundle import LLM_RECORD_FILE
from mledojo.bench.plan import Job
from mledojo.errors import MLEDojoError
from mledojo.layout import RunLayout
from mledojo.leaderboard._io import MAX_TRAJECTORY_BYTES, LeaderboardError, read_text
from mledojo.leaderboard.episode import Verification
from mledojo.play import run_episode
from mledojo.resolve import ResolvedEpisode, competition_of

REPLAY_ARG = "llm_replay"


def agent_problem(name: str) -> str | None:
    """Why the board cannot re-execute agent `name` (None: it can)."""
    if "/" in name or ":" in name or name.endswith(".py"):
        return (
            f"agent {name!r} is the submitter's own code (a file or module): the board "
            "re-executes only agents it ships or has installed; the entry stays self-reported"
        )
    try:
        load_agent(name)
    except MLEDojoError as e:
        return f"agent {name!r} is not installed on the board ({e}); it cannot be re-executed"
    return None


def live_problem(job: Job) -> str | None:
    """Why a live re-run of this episode would be unsafe (None: it is not).

    A live run calls the model with the operator's own key: an agent argument that points
    the client at another endpoint (`model_base_url`, any `*url`) would send that key to
    whoever the submitter named, so such a bundle is never re-run live.
    """
    redirect = sorted(k for k in job.agent_args if k.lower().endswith("url"))
    if redirect:
        return (
            f"{job.label}: agent argument(s) {redirect} point the model client at an endpoint "
            "the submitter chose; a live run would send the board's key there, so it is refused"
        )
    return None


def _agent_args(job: Job, folder: Path, replay_dir: Path, *, live: bool) -> dict[str, Any]:
    """The bundle's agent arguments; the recording in place of any model when not live."""
    args: dict[str, Any] = dict(job.agent_args)
    init = load_agent(job.agent).__init__
    if REPLAY_ARG not in inspect.signature(init).parameters:
        return args  # an agent without a model: nothing to replay
    args.pop(REPLAY_ARG, None)
    if live:
        return args
    replay_dir.mkdir(parents=True, exist_ok=True)
    recording = folder / LLM_RECORD_FILE
    try:  # a copy the board owns: read once, bounded, never through a symlink
        text = read_text(recording, max_bytes=MAX_TRAJECTORY_BYTES)
    except LeaderboardError:
        text = ""  # no recording: an agent that calls a model fails its replay, and differs
    (replay_dir / LLM_RECORD_FILE).write_text(text, encoding="utf-8")
    args[REPLAY_ARG] = str(replay_dir)
    return args


def reexecute(
    job: Job, folder: Path, *, work_dir: Path, live: bool, cache_dir: Path | None
) -> EpisodeResult:
    """Play the bundle's episode again on the board, in a fresh run folder under `work_dir`."""
    layout = RunLayout(work_dir)
    replay_dir = layout.folder / ".llm-replay" / job.key
    agent = make_agent(job.agent, _agent_args(job, folder, replay_dir, live=live))
    return run_episode(
        ResolvedEpisode(job.spec, competition_of(job.spec)),
        layout=layout,
        agent=agent,
        env_kwargs={"cache_dir": cache_dir} if cache_dir is not None else {},
    )


def compare(
    recorded: EpisodeResult, again: EpisodeResult, *, tolerance: float, where: str
) -> Verification | str:
    """The `reproduced` level when the re-execution matches the bundle, else why not."""
    old, new = recorded.final, again.final
    if again.status in INFRA_STATUSES:
        return (
            f"{where}: the board's re-execution failed on the board's side (infra_error); "
            "run reproduce again"
        )
    if old.graded == new.graded and old.submission_sha256 == new.submission_sha256:
        return Verification(level="reproduced", match="submission")
    if not (old.graded and new.graded):
        graded = "graded" if new.graded else "no graded submission"
        return (
            f"{where}: the board re-executed the episode and it ended {again.status} with "
            f"{graded}, unlike the bundle: the bundle's result is not what this agent produces"
        )
    a, b = old.private_score, new.private_score
    if a is not None and b is not None and math.isfinite(b) and abs(a - b) <= tolerance:
        return Verification(
            level="reproduced", match="score", tolerance=tolerance, reproduced_private_score=b
        )
    if a is None or b is None:
        return f"{where}: the board's re-execution or the bundle has no private score"
    gap = abs(a - b)
    return (
        f"{where}: the board re-executed the episode: its final submission differs from the "
        f"bundle's and its private score {b:.6g} is {gap:.4g} from the bundle's {a:.6g} (the board "
        f"allows {tolerance:g}): the bundle's submission is not what this agent produces"
    )
