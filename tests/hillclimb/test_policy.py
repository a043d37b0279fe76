"""The command policy on its own: which writes and commands the actor may send."""

from __future__ import annotations

import pytest

from mledojo.hillclimb.models import FileWrite, Implementation
from mledojo.hillclimb.policy import check, command_argv, file_refusal


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("python train.py", ["python", "train.py"]),
        ("python3 tools/make_folds.py --folds 5 out=folds.json", None),
    ],
)
def test_plain_python_scripts_in_the_workspace_may_run(
    command: str, argv: list[str] | None
) -> None:
    got = command_argv(command)
    assert isinstance(got, list)
    assert got == (argv or command.split())


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("curl http://example.invalid/x", "only `python <script>.py` may run"),
        ("pip install torch", "only `python <script>.py` may run"),
        ("git reset --hard HEAD", "only `python <script>.py` may run"),
        ("python train.py; rm -rf /", "shell syntax"),
        ("python train.py > /etc/x", "shell syntax"),
        ("python $(echo x).py", "shell syntax"),
        ("python -c 'import os'", "no -c, -m or flags"),
        ("python -m http.server", "no -c, -m or flags"),
        ("python /tmp/x.py", "absolute paths"),
        ("python ../x.py", "`..` leaves the workspace"),
        ("python .git/hooks/x.py", "the loop owns the git history"),
        ("python data.csv", "not a .py file"),
        ("python train.py /etc/passwd", "not a plain workspace-relative value"),
        ("python train.py ../../secret", "not a plain workspace-relative value"),
        ("python 'unclosed", "cannot be split"),
        ("", "empty command"),
    ],
)
def test_everything_else_is_refused_with_a_reason(command: str, reason: str) -> None:
    got = command_argv(command)
    assert isinstance(got, str) and reason in got, got


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("model.py", None),
        ("src/features.py", None),
        ("notes.md", None),
        ("/etc/passwd.py", "absolute"),
        ("../x.py", "`..`"),
        (".git/config.toml", "the loop owns the git history"),
        ("submission.csv", "written by the loop"),
        ("task.json", "written by the loop"),
        (".gitignore", "written by the loop"),
        ("run.sh", "only .py"),
        ("lib.so", "only .py"),
        ("a\\b.py", "not a usable path"),
    ],
)
def test_only_source_files_in_the_workspace_may_be_written(path: str, reason: str | None) -> None:
    got = file_refusal(FileWrite(path=path, content=""))
    assert got is None if reason is None else (got is not None and reason in got), got


def test_check_keeps_the_allowed_part_and_lists_the_refused() -> None:
    impl = Implementation(
        summary="s",
        files=[FileWrite(path="train.py", content="x"), FileWrite(path="../x.py", content="y")],
        commands=["python prep.py", "bash -c id"],
    )
    checked = check(impl)
    assert [f.path for f in checked.files] == ["train.py"]
    assert checked.commands == [["python", "prep.py"]]
    assert [(r.kind, r.item) for r in checked.refused] == [
        ("file", "../x.py"),
        ("command", "bash -c id"),
    ]
