"""Hostile arguments: paths that escape /data and /workspace, unknown or malformed
arguments, out-of-range sizes. Each attack must fail with an error naming the argument."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mledojo.tools import _paths
from mledojo.tools._base import ToolArgumentError, ToolError

from .conftest import Box


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "/data/../../etc/passwd",
        "../data/train.csv",
        "/workspace/../data/train.csv",
        "/proc/self/environ",
        "/data\\..\\etc",
        "/data/train.csv\x00.parquet",
        "/opt/mledojo/tools/registry.py",
    ],
)
def test_paths_outside_the_sandbox_folders_are_refused(box: Box, path: str) -> None:
    with pytest.raises(ToolArgumentError, match="argument `path`"):
        box.call("profile_dataset", path=path)


def test_a_symlink_in_the_workspace_cannot_lead_outside(box: Box, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b\n1,2\n")
    (box.workspace / "link.csv").symlink_to(secret)
    (box.workspace / "dir").symlink_to(tmp_path)
    for path in ("link.csv", "/workspace/link.csv", "/workspace/dir/secret.csv"):
        with pytest.raises(ToolArgumentError, match="outside"):
            box.call("profile_dataset", path=path)
    # a symlink that stays inside is fine
    (box.workspace / "inside.csv").symlink_to(box.data / "train.csv")
    assert box.call("profile_dataset", path="inside.csv")["shape"][0] > 0


def test_submission_output_stays_in_the_workspace(box: Box, tmp_path: Path) -> None:
    model = _quick_model(box)
    for output in ("/data/submission.csv", "/tmp/submission.csv", "../submission.csv"):
        with pytest.raises(ToolArgumentError, match="argument `output`"):
            box.call(
                "write_submission",
                model=model,
                data="/data/test.csv",
                id_column="id",
                output=output,
            )
    # a symlink planted where the submission goes is replaced, not written through
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (box.workspace / "submission.csv").symlink_to(victim)
    box.call("write_submission", model=model, data="/data/test.csv", id_column="id")
    assert victim.read_text() == "untouched"
    assert not (box.workspace / "submission.csv").is_symlink()


def test_a_symlinked_tools_folder_is_refused(box: Box, tmp_path: Path) -> None:
    (box.workspace / "tools").symlink_to(tmp_path)
    with pytest.raises(ToolError, match="symlink"):
        box.call("split_dataset", path="/data/train.csv", target="failure_24h")


@pytest.mark.parametrize("name", ["../escape", "a/b", "x" * 65, ".hidden", ""])
def test_handle_names_cannot_be_paths(box: Box, name: str) -> None:
    with pytest.raises(ToolArgumentError, match="argument `name`"):
        box.call("split_dataset", path="/data/train.csv", target="failure_24h", name=name)


def test_unknown_argument_is_named_with_a_suggestion(box: Box) -> None:
    with pytest.raises(ToolArgumentError) as err:
        box.call("profile_dataset", path="/data/train.csv", targett="failure_24h")
    message = str(err.value)
    assert "unknown argument `targett`" in message and "Did you mean `target`?" in message


def test_malformed_arguments_name_the_field(box: Box) -> None:
    with pytest.raises(ToolArgumentError, match="argument `valid_fraction`.*less than or equal"):
        box.call("split_dataset", path="/data/train.csv", target="failure_24h", valid_fraction=0.9)
    with pytest.raises(ToolArgumentError, match="argument `path`"):
        box.call("profile_dataset", path=["/data/train.csv"])
    with pytest.raises(ToolArgumentError, match="argument `rolling.0.windows`"):
        box.call(
            "engineer_features",
            train="/data/train.csv",
            rolling=[{"column": "x", "windows": "big"}],
        )
    with pytest.raises(ToolArgumentError, match="JSON object"):
        from mledojo.tools.registry import TOOLS

        TOOLS["profile_dataset"](["not", "an", "object"])  # type: ignore[arg-type]


def test_sizes_are_bounded(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolArgumentError, match="argument `rolling.0.windows.0`.*1000"):
        box.call(
            "engineer_features",
            train="/data/train.csv",
            time_column="timestamp",
            rolling=[{"column": "load_pct", "windows": [10**6]}],
        )
    with pytest.raises(ToolArgumentError, match="argument `path`"):
        box.call("profile_dataset", path="/data/" + "a" * 600)
    monkeypatch.setattr(_paths, "MAX_INPUT_BYTES", 1000)
    with pytest.raises(ToolArgumentError, match="the limit is 1,000"):
        box.call("profile_dataset", path="/data/train.csv")


def test_a_missing_file_says_how_to_list_files(box: Box) -> None:
    with pytest.raises(ToolArgumentError, match="no file.*request_info"):
        box.call("profile_dataset", path="/data/nope.csv")
    assert not os.path.exists(box.workspace / "tools" / "nope")


def _quick_model(box: Box) -> str:
    out = box.call(
        "train_model",
        train="/data/train.csv",
        target="failure_24h",
        algorithm="lightgbm",
        params={"n_estimators": 5},
        exclude=["id"],
    )
    return str(out["model"])
