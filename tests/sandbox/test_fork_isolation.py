"""Attacks on `env.fork()` through the hostile workspace, on the real sandboxes.

The fork copies the parent's workspace on the host, then runs its own sandbox on the copy.
The copy must never follow a symlink the agent planted (to a host secret, or to the
parent's own workspace), never carry a file that is hard-linked elsewhere (a root-only
file under another name), and never leave the two trees sharing a file: after the fork,
neither episode sees or changes the other's files. A fork also gets a graded submission
on its own. `docker` and `local` (root) each run everything.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.env import MLEDojoEnv

SANDBOXES = [
    pytest.param(
        "local",
        id="local",
        marks=pytest.mark.skipif(os.geteuid() != 0, reason="LocalSandbox needs root"),
    ),
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
]
SECRET = "host-secret-7f3a"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def code(text: str) -> dict[str, Any]:
    return {"action": "execute_code", "code": text}


def run(env: MLEDojoEnv, text: str) -> dict[str, Any]:
    obs, *_ = env.step(code(text))
    return obs


@pytest.fixture(params=SANDBOXES)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MLEDojoEnv]:
    if request.param == "docker":
        request.getfixturevalue("runtime_image")
    with mledojo.make(
        "pump-failure",
        sandbox=request.param,
        run_dir=tmp_path / "run",
        budget={"max_steps": 20},
        mode="training",
    ) as made:
        made.reset(seed=0)
        yield made


def host_secret(tmp_path: Path) -> Path:
    """A root-only file on the host, on the same file system as the workspace."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    return secret


def inodes(folder: Path) -> set[tuple[int, int]]:
    return {(p.lstat().st_dev, p.lstat().st_ino) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.filterwarnings("ignore:mode='training' on the evaluation split")
def test_planted_symlinks_are_not_followed(env: MLEDojoEnv, tmp_path: Path) -> None:
    secret = host_secret(tmp_path)
    parent_ws = env.run_folder / "workspace"
    obs = run(
        env,
        f"import os\nos.symlink({str(secret)!r}, 'leak')\nos.symlink({str(parent_ws)!r}, 'up')\n"
        "os.makedirs('d')\nos.symlink('/etc', 'd/etc')\n",
    )
    assert obs["status"] == "ok", obs
    with env.fork() as fork:
        copied = fork.run_folder / "workspace"
        assert stat.S_ISLNK((copied / "leak").lstat().st_mode)  # a link, never its target
        assert os.readlink(copied / "leak") == str(secret)
        obs = run(
            fork,
            "for name in ('leak', 'up/x'):\n"
            "    try:\n"
            "        open(name, 'a+').seek(0)\n"
            "        print('opened', name, open(name).read())\n"
            "    except OSError as e:\n"
            "        print('refused', name, type(e).__name__)\n",
        )
        assert SECRET not in obs["stdout"] and "opened" not in obs["stdout"], obs
        assert not (parent_ws / "x").exists()  # the fork wrote nothing into the parent


@pytest.mark.filterwarnings("ignore:mode='training' on the evaluation split")
def test_a_hard_linked_file_is_not_copied(
    env: MLEDojoEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hard link to a root-only file, planted in the workspace (an `unsafe-local` agent or
    a workspace handed in can hold one; the sandboxes' own mounts refuse `link` across
    them): copying its data would hand the secret to the fork's agent (uid 1000)."""
    monkeypatch.setenv("MLEDOJO_DISK_QUOTA", "off")  # the workspace on the host's disk
    with mledojo.make(
        "pump-failure",
        sandbox=env.episode.sandbox.name,  # type: ignore[union-attr]
        run_dir=tmp_path / "walk",
        mode="training",
    ) as parent:
        parent.reset(seed=0)
        os.link(host_secret(tmp_path), parent.run_folder / "workspace" / "notes.txt")
        with parent.fork() as fork:
            assert not (fork.run_folder / "workspace" / "notes.txt").exists()
            obs = run(fork, "import os\nprint(sorted(os.listdir('.')))")
            assert "notes.txt" not in obs["stdout"] and SECRET not in obs["stdout"]
            assert "1 hard-linked files" in (fork.run_folder / "episode.log").read_text()


@pytest.mark.filterwarnings("ignore:mode='training' on the evaluation split")
def test_after_the_fork_the_two_trees_share_nothing(env: MLEDojoEnv) -> None:
    obs = run(
        env,
        "import os\nopen('shared.txt', 'w').write('before')\nos.makedirs('sub')\n"
        "open('sub/a', 'w').write('a')\nos.link('sub/a', 'sub/b')\n",
    )
    assert obs["status"] == "ok", obs
    with env.fork() as fork:
        parent_ws, fork_ws = env.run_folder / "workspace", fork.run_folder / "workspace"
        assert not inodes(parent_ws) & inodes(fork_ws)  # no file shared by a link
        run(fork, "open('shared.txt', 'w').write('fork')\nopen('fork_only.txt', 'w').write('f')")
        run(env, "open('parent_only.txt', 'w').write('p')\nopen('sub/a', 'a').write('+parent')")
        seen_by_parent = run(env, "import os\nprint(open('shared.txt').read(), os.listdir('.'))")
        seen_by_fork = run(fork, "import os\nprint(open('shared.txt').read(), os.listdir('.'))")
        assert "before" in seen_by_parent["stdout"]
        assert "fork_only" not in seen_by_parent["stdout"]
        assert "fork" in seen_by_fork["stdout"] and "parent_only" not in seen_by_fork["stdout"]
        assert not (fork_ws / "sub" / "a").exists()  # hard-linked in the parent: not copied


@pytest.mark.filterwarnings("ignore:mode='training' on the evaluation split")
def test_an_own_fork_gets_a_graded_submission(env: MLEDojoEnv) -> None:
    run(env, "open('train_note.txt', 'w').write('from the parent')")
    with env.fork(budget="own") as fork:
        obs = run(
            fork,
            "import pandas as pd, os\n"
            "assert open('train_note.txt').read() == 'from the parent'\n"
            "t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')\n"
            "h = t['hours_since_maintenance'].fillna(0)\n"
            "pd.DataFrame({'id': t['id'], 'failure_24h': h / h.max()})"
            ".to_csv('submission.csv', index=False)\n",
        )
        assert obs["submission"] == "valid", obs
        _, _, terminated, _, info = fork.step({"action": "submit"})
        result = fork.result()
    assert terminated and info["final"]["graded"]
    assert result is not None and result.final.private_score is not None
    assert result.lineage is not None and result.lineage.parent_step == 1
    assert result.sandbox.kind == env.episode.sandbox.name  # type: ignore[union-attr]
    assert env.episode is not None and not env.episode.done  # the parent goes on


def submission(scale: str) -> str:
    return (
        "import pandas as pd, os\n"
        "t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')\n"
        "h = t['hours_since_maintenance'].fillna(0)\n"
        f"pd.DataFrame({{'id': t['id'], 'failure_24h': {scale}}})"
        ".to_csv('submission.csv', index=False)\n"
    )


@pytest.mark.filterwarnings("ignore:mode='training' on the evaluation split")
def test_the_root_grades_a_shared_branchs_better_submission(env: MLEDojoEnv) -> None:
    assert run(env, submission("1 - h / h.max()"))["submission"] == "valid"
    branch = env.fork()
    obs = run(branch, submission("h / h.max()"))
    assert obs["submission"] == "valid" and "new best" in obs["info"], obs
    _, _, terminated, _, info = env.step({"action": "submit"})
    result = env.result()
    assert terminated and info["final"]["graded"] and result is not None
    assert result.final.submission is not None
    assert result.final.submission.startswith("forks/step-001/submissions/")
    ended = branch.result()  # the root's end ended the branch and stopped its sandbox
    assert ended is not None and ended.status == "interrupted"
    assert branch.episode is not None and branch.episode.sandbox.leftovers() == []
