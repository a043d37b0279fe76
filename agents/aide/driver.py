"""The AIDE driver: runs aideml's tree search inside AIDE's own venv, never in mledojo's.

It uses aideml's public pieces unchanged: `aide.agent.Agent` (draft / improve / debug over
whole scripts, and its `submit_review` feedback call), `aide.journal.Journal` (the solution
tree) and its `step(exec_callback)` seam, where the callback stands in for aideml's local
`Interpreter`: each script runs as one `execute_code` step in the episode's sandbox, through
the host bridge. Model calls go through aideml's OpenAI or Anthropic backend to the episode's
gateway (`OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL`, the gateway's token as the key). Standard
library, `mledojo_bridge` and aideml only.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# The first step makes AIDE's own layout in the workspace: its prompts read `./input` and
# write `./working/submission.csv`; here `input` is the read-only data and `working` is the
# workspace itself, so `./working/submission.csv` is the file the env grades.
SETUP_CODE = """\
import os
for name, target in (("input", os.environ.get("MLEDOJO_DATA", "/data")), ("working", ".")):
    if not os.path.lexists(name):
        os.symlink(target, name)
print("input ->", os.readlink("input"), "; working ->", os.readlink("working"))
"""
_PLAN_CHARS = 2000
_MESSAGE_CHARS = 3000
_MAX_CODE_CHARS = 200_000  # the bridge refuses longer cells
_MODEL_FAILURES = 5
LAYOUT_NOTE = (
    "\n\n## AIDE's file layout\nIn this episode `./input` is the read-only data folder above "
    "and `./working` is the current folder (the workspace): the file the benchmark grades is "
    "`./working/submission.csv`. Each script runs in a fresh Python process.\n"
)


class EpisodeOver(Exception):
    """The env ended the episode (budget, time, submission): the search stops."""


class ModelUnavailable(Exception):
    """The model endpoint keeps failing (aideml would retry forever): the search stops."""

    def __init__(self, message: str, *, budget: bool) -> None:
        super().__init__(message)
        self.budget = budget


class Host(Protocol):
    """What the driver needs of the host bridge (`mledojo_bridge.Bridge`)."""

    def python(self, code: str) -> dict[str, Any]:
        """Run `code` as one `execute_code` step in the sandbox; the host's reply."""
        ...

    def submit(self, path: str | None = None) -> dict[str, Any]:
        """End the episode with the best graded submission."""
        ...


class ModelFailures(logging.Handler):
    """Stops the search when aideml's model calls keep failing.

    aideml retries a rate limit, a 5xx or a dead connection forever (exponential backoff,
    no limit) and logs each retry as `Backoff exception: ...` on its `aide` logger. Through
    that public log this handler raises `ModelUnavailable` inside the retry loop: at once
    when the episode's model budget is used up (the gateway's `insufficient_quota`), after
    `limit` failed attempts of one call otherwise.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(level=logging.INFO)
        self.limit = limit
        self.failures = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Backoff exception"):
            self.failures += 1
            if "insufficient_quota" in message or "budget used up" in message:
                raise ModelUnavailable(message[:_MESSAGE_CHARS], budget=True)
            if self.failures >= self.limit:
                text = f"a model call failed {self.failures} times in a row; the last: {message}"
                raise ModelUnavailable(text[:_MESSAGE_CHARS], budget=False)
        elif " API request: " in message:  # a new call: its retries are counted afresh
            self.failures = 0


@dataclass(frozen=True)
class AideSettings:
    """The driver's arguments (sent by the host as JSON)."""

    task: str
    code_model: str
    feedback_model: str
    steps: int
    num_drafts: int
    debug_prob: float
    max_debug_depth: int
    k_fold_validation: int
    code_temperature: float
    feedback_temperature: float
    step_timeout_s: int
    seed: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AideSettings:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def aide_config(settings: AideSettings, workspace: Path) -> Any:
    """aideml's `Config` (its structured schema, filled from the settings)."""
    from aide.utils.config import Config
    from omegaconf import OmegaConf

    values = {
        "data_dir": str(workspace),
        "desc_file": None,
        "goal": None,
        "eval": None,
        "log_dir": str(workspace / "logs"),
        "workspace_dir": str(workspace),
        "preprocess_data": False,
        "copy_data": False,
        "exp_name": "mledojo",
        "exec": {
            "timeout": settings.step_timeout_s,
            "agent_file_name": "runfile.py",
            "format_tb_ipython": False,
        },
        "generate_report": False,
        "report": {"model": settings.feedback_model, "temp": settings.feedback_temperature},
        "agent": {
            "steps": settings.steps,
            "k_fold_validation": settings.k_fold_validation,
            "expose_prediction": False,
            "data_preview": False,  # the task text already previews every file
            "code": {"model": settings.code_model, "temp": settings.code_temperature},
            "feedback": {"model": settings.feedback_model, "temp": settings.feedback_temperature},
            "search": {
                "max_debug_depth": settings.max_debug_depth,
                "debug_prob": settings.debug_prob,
                "num_drafts": settings.num_drafts,
            },
        },
    }
    return OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(values))


def exec_callback(host: Host) -> Callable[[str, bool], Any]:
    """aideml's `exec_callback`: the script runs in the sandbox, as one step."""
    from aide.interpreter import ExecutionResult
    from mledojo_bridge import BridgeRefused

    def run(code: str, reset_session: bool) -> Any:
        started = time.monotonic()
        if not code.strip() or len(code) > _MAX_CODE_CHARS:
            why = "empty" if not code.strip() else f"longer than {_MAX_CODE_CHARS} characters"
            text = f"The script was not run: it is {why}. Reply with one complete script."
            return ExecutionResult(term_out=[text], exec_time=0.0, exc_type="ScriptRefused")
        try:
            reply = host.python(code)
        except BridgeRefused as refused:
            text = f"The host refused to run the script: {refused}"
            return ExecutionResult(term_out=[text], exec_time=0.0, exc_type="ScriptRefused")
        if reply.get("episode_over"):
            raise EpisodeOver(str(reply.get("status") or "over"))
        status = str(reply.get("status") or "")
        return ExecutionResult(
            term_out=[str(reply.get("output") or "")],
            exec_time=time.monotonic() - started,
            exc_type=None if status == "ok" else status or "error",
        )

    return run


def run_search(settings: AideSettings, host: Host) -> dict[str, Any]:
    """AIDE's search over the episode; a summary of its tree (`ended` says why it stopped)."""
    from aide.agent import Agent
    from aide.journal import Journal

    random.seed(settings.seed)  # AIDE's search policy draws from `random`
    failures = _watch_model_calls()
    journal = Journal()
    setup = host.python(SETUP_CODE)
    ended = "the episode ended during setup" if setup.get("episode_over") else "steps"
    with tempfile.TemporaryDirectory(prefix="aide-") as folder:
        config = aide_config(settings, Path(folder))
        agent = Agent(task_desc=settings.task + LAYOUT_NOTE, cfg=config, journal=journal)
        callback = exec_callback(host)
        for _ in range(settings.steps if ended == "steps" else 0):
            try:
                agent.step(exec_callback=callback)
            except EpisodeOver as over:
                ended = f"the episode ended ({over})"
            except ModelUnavailable as down:
                if not down.budget:
                    raise
                ended = "the model budget is used up"
            if ended != "steps":
                break
    summary = tree_summary(journal, ended)
    summary["model_retries"] = failures.failures
    return summary


def _watch_model_calls() -> ModelFailures:
    """Route aideml's log to a `ModelFailures` only (its own handler prints every prompt)."""
    handler = ModelFailures(_MODEL_FAILURES)
    logger = logging.getLogger("aide")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.handlers = [handler]
    return handler


def tree_summary(journal: Any, ended: str) -> dict[str, Any]:
    """What the search did: its nodes by stage, the buggy ones, the best metric."""
    stages: dict[str, int] = {}
    for node in journal.nodes:
        stages[node.stage_name] = stages.get(node.stage_name, 0) + 1
    best = journal.get_best_node(only_good=True)
    return {
        "nodes": len(journal.nodes),
        "stages": stages,
        "buggy": len(journal.buggy_nodes),
        "best_metric": None if best is None else best.metric.value,
        "ended": ended,
        "tree": [
            {
                "step": node.step,
                "parent": None if node.parent is None else node.parent.step,
                "stage": node.stage_name,
                "buggy": bool(node.is_buggy),
                "metric": None if node.metric is None else node.metric.value,
                "plan": (node.plan or "")[:_PLAN_CHARS],
            }
            for node in journal.nodes
        ],
    }


def main() -> int:
    """Read the config and the task from the host, search, submit; leave the tree's summary
    in `aide-journal.json` (the driver's folder in the run folder) and in the run's notes."""
    from mledojo_bridge import Bridge, BridgeClosed, load_config

    bridge = Bridge.from_env()
    task = bridge.task()
    settings = AideSettings.from_json({**load_config(), "task": str(task.get("instructions"))})
    try:
        summary = run_search(settings, bridge)
    except ModelUnavailable as down:
        bridge.fail(f"the model endpoint keeps failing: {down}")
        return 1
    Path("aide-journal.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    stages = ", ".join(f"{n} {stage}" for stage, n in summary["stages"].items())
    note = (
        f"aide: {summary['nodes']} nodes ({stages or 'none'}), {summary['buggy']} buggy, "
        f"best validation metric {summary['best_metric']}; stopped: {summary['ended']}"
    )
    if bridge.episode_over:  # the env ended the episode: the host has stopped listening
        return 0
    try:
        bridge.note(note)
        bridge.submit()
    except BridgeClosed:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
