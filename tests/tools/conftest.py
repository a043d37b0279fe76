"""Fixtures for the trusted-tool tests: a sandbox-like data and workspace folder pair, filled
with real data (pump-failure's own generator, Kaggle CSVs from ../shared/datasets)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mledojo.testing.shared_data import need_kaggle
from mledojo.tools._base import parse_args
from mledojo.tools.registry import TOOLS

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "competitions" / "pump-failure" / "generate.py"
PUMPS = ["P01", "P02", "P03", "P04", "P05", "P06"]
DAYS = 120


@dataclass(frozen=True)
class Box:
    """The folders the tools see as /data and /workspace."""

    data: Path
    workspace: Path

    def call(self, tool: str, **args: Any) -> dict[str, Any]:
        """Call a tool the way the runner does (validation, error wrapping included)."""
        return TOOLS[tool](args)

    def direct(self, tool: str, **args: Any) -> dict[str, Any]:
        """Call a tool without the error wrapper (real tracebacks while debugging)."""
        spec = TOOLS[tool]
        return spec.fn(parse_args(spec, args))


@pytest.fixture(scope="session")
def pump_table() -> pd.DataFrame:
    """A slice of the real pump-failure table: 6 pumps, the first 120 days, every column."""
    spec = importlib.util.spec_from_file_location("pump_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    full = module.generate(0)
    times = pd.to_datetime(full["timestamp"])
    keep = full["pump_id"].isin(PUMPS) & (times < times.min() + pd.Timedelta(days=DAYS))
    return full.loc[keep].reset_index(drop=True)


def _fill_pump(data: Path, table: pd.DataFrame) -> None:
    """train.csv (first 80% of the time), test.csv (the rest, unlabelled), sample submission."""
    times = pd.to_datetime(table["timestamp"])
    cut = times.quantile(0.8)
    train, test = table.loc[times < cut], table.loc[times >= cut]
    train.to_csv(data / "train.csv", index=False)
    test.drop(columns=["failure_24h"]).to_csv(data / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "failure_24h": 0.5}).to_csv(
        data / "sample_submission.csv", index=False
    )


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pump_table: pd.DataFrame) -> Iterator[Box]:
    """A data folder with the pump slice and an empty workspace, as the sandbox maps them."""
    data, workspace = tmp_path / "data", tmp_path / "workspace"
    data.mkdir()
    workspace.mkdir()
    _fill_pump(data, pump_table)
    monkeypatch.setenv("MLEDOJO_DATA", str(data))
    monkeypatch.setenv("MLEDOJO_WORKSPACE", str(workspace))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the machine is shared; one thread per model
    yield Box(data=data, workspace=workspace)


def kaggle_dir(competition: str) -> Path:
    """The real Kaggle download of `competition` (skipped, or failed in CI, when missing)."""
    return need_kaggle(competition, "train.csv").parent


def copy_kaggle(box: Box, competition: str) -> None:
    """Put a Kaggle competition's train.csv into the box's data folder as train.csv."""
    shutil.copy(kaggle_dir(competition) / "train.csv", box.data / "train.csv")
