"""The AIDE driver: runs aideml's tree search inside AIDE's own venv, never in mledojo's.

It uses aideml's public pieces unchanged: `aide.agent.Agent` (draft / improve / debug over
whole scripts, and its `submit_review` feedback call), `aide.journal.Journal` (the solution
tree) and its `step(exec_callback)` seam, where the callback stands in for aideml's local
`Interpreter`: each script runs as one `execute_code` step in the episode's sandbox, through
the host bridge. Model calls go through aideml's OpenAI backend to the episode's gateway
(`OPENAI_BASE_URL`, the gateway's client token as the key). Standard library and `aide` only.
"""

from __future__ import annotations

import random
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
LAYOUT_NOTE = (
    "\n\n## AIDE's file layout\nIn this episode `./input` is the read-only data folder above "
    "and `./working` is the current folder (the workspace): the file the benchmark grades is "
    "`./working/submission.csv`. Each script runs in a fresh Python process.\n"
)


class EpisodeOver(Exception):
    """The env ended the episode (budget, time, submission): the search stops."""


class Sandbox(Protocol):
    """What the driver needs of the host bridge."""

    def execute(self, code: str) -> dict[str, Any]:
        """Run `code` as one `execute_code` step; the step's observation (plus `done`)."""
        ...

    def submit(self) -> dict[str, Any]:
        """End the episode with the best graded submission."""
        ...


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


def exec_callback(sandbox: Sandbox) -> Callable[[str, bool], Any]:
    """aideml's `exec_callback`: the script runs in the sandbox, as one step."""
    from aide.interpreter import ExecutionResult

    def run(code: str, reset_session: bool) -> Any:
        started = time.monotonic()
        obs = sandbox.execute(code)
        if obs.get("done"):
            raise EpisodeOver(str(obs.get("status", "done")))
        out = [str(obs.get("stdout", "")), str(obs.get("stderr", ""))]
        error = str(obs.get("error_type", "")) or None
        if error is not None and obs.get("error_message"):
            out.append(f"\n{error}: {obs['error_message']}\n")
        return ExecutionResult(
            term_out=[part for part in out if part],
            exec_time=time.monotonic() - started,
            exc_type=error,
        )

    return run


def run_search(settings: AideSettings, sandbox: Sandbox) -> dict[str, Any]:
    """AIDE's search over the episode, then submit; a summary of its tree for the notes."""
    from aide.agent import Agent
    from aide.journal import Journal

    random.seed(settings.seed)  # AIDE's search policy draws from `random`
    setup = sandbox.execute(SETUP_CODE)
    journal = Journal()
    ended = "steps"
    if setup.get("done"):
        ended = "the episode ended during setup"
    else:
        with tempfile.TemporaryDirectory(prefix="aide-") as folder:
            config = aide_config(settings, Path(folder))
            agent = Agent(task_desc=settings.task + LAYOUT_NOTE, cfg=config, journal=journal)
            callback = exec_callback(sandbox)
            for _ in range(settings.steps):
                try:
                    agent.step(exec_callback=callback)
                except EpisodeOver as over:
                    ended = f"the episode ended ({over})"
                    break
    summary = tree_summary(journal, ended)
    if not ended.startswith("the episode ended"):
        sandbox.submit()
    return summary


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
