"""Fork a running episode into a new sandbox: the same state, then two separate episodes.

A fork copies what a re-execution of the parent's steps would rebuild: the workspace (the
only state that persists between steps, docs/sandbox.md), the budget used, the best
submission so far, the counters, the tool ledger and the trajectory. It starts a new
sandbox of its own on the copy, so tree search and RL branching go on from a step without
re-running the steps before it. How the fork's spending counts is its `budget` mode
(`mledojo.spend`, docs/episode.md "Forking an episode").

The parent's workspace is hostile: it is copied by descriptors only (`treecopy`), a symlink
as a link (never followed on the host), special files skipped, and a regular file with more
than one hard link skipped (its other name may be a file the agent could not read), bounded
by the episode's disk and file limits. Nothing links the two trees after the copy.
"""

from __future__ import annotations

import os
import shutil
import time

from mledojo.artifacts import BudgetMode, Lineage, new_episode_folder
from mledojo.episode import Episode
from mledojo.errors import ResetNeededError
from mledojo.grading.worker import GradingWorker
from mledojo.sandbox import treecopy
from mledojo.sandbox.base import Sandbox
from mledojo.sandbox.treecopy import CopyReport

BUDGET_MODES: tuple[BudgetMode, ...] = ("shared", "own")
FORKS_DIR = "forks"
TRAJECTORY = "trajectory.jsonl"
MIB = 1 << 20


def fork_episode(
    parent: Episode, *, budget: BudgetMode, sandbox: Sandbox, grader: GradingWorker
) -> Episode:
    """A started copy of the running episode `parent` in the (unstarted) `sandbox`.

    `budget="shared"` draws on the parent's budget and is graded with its root;
    `budget="own"` is an episode of its own with a copy of the budget left (training mode
    only: in evaluation mode it would multiply the budget of the episode being ranked).
    """
    check_fork(parent, budget)
    folder = new_episode_folder(parent.folder / FORKS_DIR / f"step-{parent.steps:03d}")
    shared = budget == "shared"
    root = (
        parent.lineage.root_run_dir
        if shared and parent.lineage is not None and parent.is_branch
        else str(parent.folder)
    )
    lineage = Lineage(
        parent_key=parent.spec.key,
        parent_run_dir=str(parent.folder),
        parent_step=parent.steps,
        budget=budget,
        root_run_dir=root if shared else str(folder),
    )
    elapsed = time.monotonic() - parent.spend.started
    child = Episode(
        competition=parent.competition,
        data=parent.data,
        scorer=parent.scorer,
        grader=grader,
        spec=parent.spec,
        folder=folder,
        run_label=parent.run_label,
        sandbox=sandbox,
        reward=parent.reward_mode,
        info_text=parent._info_text,
        task_info=parent._task_info,
        spend=parent.spend if shared else parent.spend.own_copy(),
        lineage=lineage,
    )
    report = copy_workspace(parent, child)
    _copy_records(parent, child)
    _inherit(parent, child)
    child.recorder.log(f"workspace copied from the parent: {report.summary()}")
    if shared:
        parent.spend.branches.append(child)
    child.start_fork(elapsed)
    return child


def check_fork(parent: Episode, budget: str) -> None:
    """Refuse a fork of an ended episode, an unknown mode, or `own` in evaluation mode."""
    if budget not in BUDGET_MODES:
        raise ValueError(f"fork(budget={budget!r}): use one of {', '.join(BUDGET_MODES)}")
    if parent.done:
        raise ResetNeededError("the episode has ended: fork a running episode (after reset)")
    if budget == "own" and parent.spec.mode == "evaluation":
        raise ValueError(
            "fork(budget='own') makes an episode with a budget of its own, which in evaluation "
            "mode would multiply the budget of the episode being ranked: use budget='shared' "
            "(a search branch), or a training variant (data_seed>0 / mode='training') for RL"
        )


def copy_workspace(parent: Episode, child: Episode) -> CopyReport:
    """The parent's workspace into the child's, as the module doc says (never a link)."""
    resources = parent.spec.resources
    return treecopy.copy_tree(
        parent.sandbox.workspace_host_path,
        child.recorder.workspace,
        max_bytes=resources.disk_mb * MIB,
        max_entries=resources.max_files,
        strict=False,
        single_links=True,
    )


def _copy_records(parent: Episode, child: Episode) -> None:
    """The parent's trajectory, code cells and submission copies (host files of ours)."""
    for name in ("code", "submissions"):
        treecopy.copy_tree(
            parent.folder / name,
            child.folder / name,
            max_bytes=1 << 62,
            max_entries=1 << 62,
            strict=False,
            single_links=True,
        )
    source = parent.folder / TRAJECTORY
    if source.is_file():
        fd = os.open(
            child.folder / TRAJECTORY, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )
        with os.fdopen(fd, "wb") as out:
            out.write(source.read_bytes())


def _inherit(parent: Episode, child: Episode) -> None:
    """The parent's counters, feedback, ledger and best submission, as of now."""
    child.steps, child.tool_calls = parent.steps, parent.tool_calls
    child.public_grades, child.sandbox_errors = parent.public_grades, parent.sandbox_errors
    child.grading_errors = parent.grading_errors
    child.tool_ledger = dict(parent.tool_ledger)
    child.feedback = list(parent.feedback)
    child.llm = parent.llm
    child._llm_logged = parent.llm
    score, human_rank, best = parent.tree_best()  # a root's may be one of its branches'
    if best is not None:
        copy = child.folder / "submissions" / f"best-at-fork-{best.name}"
        shutil.copyfile(best, copy)  # our own copy of a graded submission, not the workspace
        child.best_score, child.best_hr, child.best_submission = score, human_rank, copy
