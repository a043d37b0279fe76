"""`env.fork()`: what a fork copies, how its budget counts, and its lineage.

The sandbox here is the in-process test double (`mledojo.testing.memory_sandbox`): these
tests are about the episode's state and budget. The attacks on the workspace copy and the
isolation of the two sandboxes run on real sandboxes in `tests/sandbox/test_fork_isolation.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.artifacts import EpisodeResult, LLMUsage
from mledojo.errors import ResetNeededError
from mledojo.testing.memory_sandbox import MemorySandboxDouble

COMPETITION = "pump-failure"


def write_submission(scale: str) -> str:
    """A cell writing a valid submission whose quality depends on `scale` (a Python expr)."""
    return (
        "import pandas as pd, os\n"
        "t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')\n"
        "h = t['hours_since_maintenance'].fillna(0)\n"
        f"pd.DataFrame({{'id': t['id'], 'failure_24h': {scale}}})"
        ".to_csv('submission.csv', index=False)\n"
    )


GOOD = write_submission("h / h.max()")
WORSE = write_submission("1 - h / h.max()")


def code(text: str) -> dict[str, Any]:
    return {"action": "execute_code", "code": text}


def make(tmp_path: Path, **kwargs: Any) -> mledojo.MLEDojoEnv:
    return mledojo.make(
        COMPETITION, sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r", **kwargs
    )


def trajectory(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "trajectory.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_fork_continues_from_the_parents_state(tmp_path: Path) -> None:
    with make(tmp_path, budget={"max_steps": 10}) as env:
        env.reset(seed=3)
        env.step(code(WORSE))
        env.step(code("open('notes.txt', 'w').write('kept')"))
        parent = env.episode
        assert parent is not None and parent.best_score is not None
        with env.fork(sandbox=MemorySandboxDouble()) as child:
            fork = child.episode
            assert fork is not None and fork.folder.parent.parent == parent.folder
            assert (fork.recorder.workspace / "notes.txt").read_text() == "kept"
            assert (fork.steps, fork.steps_left) == (2, parent.steps_left)
            assert (fork.best_score, fork.public_grades) == (parent.best_score, 1)
            assert fork.best_submission is not None and fork.best_submission.is_file()
            assert fork.best_submission.is_relative_to(fork.folder)
            assert child.np_random.random() == env.np_random.random()  # the same RNG state
            obs, *_ = child.step(code("print(open('notes.txt').read())"))
            assert obs["stdout"].strip() == "kept"
            records = trajectory(fork.folder)
    parents = trajectory(parent.folder)
    assert records[:3] == parents[:3]  # reset and the two steps, as the parent recorded them
    assert records[3]["action"] == {"action": "fork", "budget": "shared"}
    assert records[3]["lineage"] == {
        "parent_key": parent.spec.key,
        "parent_run_dir": str(parent.folder),
        "parent_step": 2,
        "budget": "shared",
        "root_run_dir": str(parent.folder),
    }
    assert records[4]["step"] == 3


def test_shared_forks_draw_on_one_budget(tmp_path: Path) -> None:
    with make(tmp_path, budget={"max_steps": 5, "llm_usd": 1.0}) as env:
        env.reset(seed=0)
        env.step(code("x = 1"))
        child = env.fork(sandbox=MemorySandboxDouble())
        child.step(code("x = 2"))
        assert env.episode is not None and env.episode.steps_left == 3
        child.charge_llm(LLMUsage(calls=1, usd=0.4))
        env.charge_llm(LLMUsage(calls=1, usd=0.4))
        obs, *_ = env.step(code("x = 3"))  # 0.8 of 1.0 dollar: the tree may go on
        assert obs["status"] == "ok" and obs["steps_left"] == 2
        child.charge_llm(LLMUsage(calls=1, usd=0.3))
        obs, _, _, truncated, _ = child.step({"action": "request_info"})
        assert truncated and "LLM dollar budget" in obs["info"]
        branch = child.result()
        assert branch is not None and not branch.final.graded
        obs, _, _, truncated, _ = env.step({"action": "request_info"})  # the root too
        assert truncated
        root = env.result()
    assert root is not None and root.llm.calls == 3 and root.llm.usd == pytest.approx(1.1)
    assert root.lineage is None and branch.lineage is not None
    assert branch.lineage.root_run_dir == str(env.run_folder)


def test_the_root_grades_the_best_submission_of_its_branches(tmp_path: Path) -> None:
    with make(tmp_path) as env:
        env.reset(seed=0)
        env.step(code(WORSE))
        child = env.fork(sandbox=MemorySandboxDouble())
        obs, *_ = child.step(code(GOOD))
        assert "new best" in obs["info"]
        idle = env.fork(sandbox=MemorySandboxDouble())  # still running when the root ends
        refused, *_ = child.step({"action": "submit", "path": "submission.csv"})
        assert refused["error_type"] == "SubmitRefused"
        _, _, terminated, _, _ = child.step({"action": "submit"})
        assert terminated and child.result() is not None
        env.step({"action": "submit"})
        root = env.result()
        assert root is not None and root.final.graded and root.final.submission is not None
        assert root.final.submission.startswith("forks/step-001/submissions/")
        assert root.best_public_score == child.episode.best_score  # type: ignore[union-attr]
        closed = idle.result()
        assert closed is not None and closed.status == "interrupted"
        assert "root episode ended" in closed.end_reason


@pytest.mark.filterwarnings("ignore:mode='training' on the evaluation split")
def test_an_own_fork_is_an_episode_of_its_own(tmp_path: Path) -> None:
    with make(tmp_path, mode="training", budget={"max_steps": 3}) as env:
        env.reset(seed=0)
        env.step(code(GOOD))
        with env.fork(budget="own", sandbox=MemorySandboxDouble()) as child:
            child.step(code("x = 1"))
            _, _, _, truncated, _ = child.step(code("x = 2"))
            assert truncated  # its own copy of the 2 steps left is used up
            assert env.episode is not None and env.episode.steps_left == 2  # not the parent's
            own = child.result()
        _, reward, terminated, _, info = env.step({"action": "submit"})
        root = env.result()
    assert own is not None and own.final.graded and own.final.private_score is not None
    assert own.lineage is not None and own.lineage.budget == "own"
    assert own.lineage.root_run_dir == str(child.run_folder)
    assert (child.run_folder / "result.json").is_file() and root is not None
    assert EpisodeResult.load(child.run_folder / "result.json").lineage == own.lineage
    assert root.final.graded and root.steps == 2


def test_an_own_fork_is_refused_in_evaluation_mode(tmp_path: Path) -> None:
    with make(tmp_path) as env:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="evaluation mode would multiply"):
            env.fork(budget="own", sandbox=MemorySandboxDouble())
        with pytest.raises(ValueError, match="use one of shared, own"):
            env.fork(budget="both", sandbox=MemorySandboxDouble())  # type: ignore[arg-type]


def test_what_cannot_be_forked_says_why(tmp_path: Path) -> None:
    with make(tmp_path) as env:
        with pytest.raises(ResetNeededError, match="reset"):
            env.fork(sandbox=MemorySandboxDouble())
        env.reset(seed=0)
        with pytest.raises(ValueError, match="fresh one"):
            env.fork()  # this env was given a Sandbox instance
        env.step({"action": "submit"})
        with pytest.raises(ResetNeededError, match="ended"):
            env.fork(sandbox=MemorySandboxDouble())


def test_the_copy_keeps_links_as_links_and_drops_hard_linked_files(tmp_path: Path) -> None:
    """The fast twin of tests/sandbox/test_fork_isolation.py: the copy itself, on real files."""
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    secret.chmod(0o600)
    with make(tmp_path) as env:
        env.reset(seed=0)
        workspace = env.run_folder / "workspace"
        (workspace / "leak").symlink_to(secret)
        os.link(secret, workspace / "notes.txt")
        (workspace / "kept.txt").write_text("kept")
        with env.fork(sandbox=MemorySandboxDouble()) as child:
            copied = child.run_folder / "workspace"
            assert (copied / "leak").is_symlink() and os.readlink(copied / "leak") == str(secret)
            assert not (copied / "notes.txt").exists()
            assert (copied / "kept.txt").read_text() == "kept"
            assert (copied / "kept.txt").stat().st_ino != (workspace / "kept.txt").stat().st_ino
            log = (child.run_folder / "episode.log").read_text()
    assert "1 symlinks" in log and "1 hard-linked files" in log


@pytest.mark.filterwarnings("ignore:mode='training' on the evaluation split")
def test_a_fork_of_a_root_inherits_the_best_of_its_tree(tmp_path: Path) -> None:
    with make(tmp_path, mode="training") as env:
        env.reset(seed=0)
        env.step(code(WORSE))
        branch = env.fork(sandbox=MemorySandboxDouble())
        branch.step(code(GOOD))
        better = branch.episode.best_score  # type: ignore[union-attr]
        with env.fork(budget="own", sandbox=MemorySandboxDouble()) as own:
            assert own.episode is not None and own.episode.best_score == better
            assert own.episode.best_submission is not None
            assert own.episode.best_submission.is_relative_to(own.run_folder)
            own.step({"action": "submit"})
            result = own.result()
        assert result is not None and result.final.graded
        assert result.final.submission == "submissions/best-at-fork-step-002.csv"
