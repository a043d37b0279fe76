"""`write_csv` writes exactly what `DataFrame.to_csv(index=False)` writes, or refuses."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mledojo.data.fastcsv import write_csv
from mledojo.errors import DataError

GENERATOR = Path(__file__).resolve().parents[2] / "competitions" / "pump-failure" / "generate.py"


def _generate() -> pd.DataFrame:
    spec = importlib.util.spec_from_file_location("fastcsv_test_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    frame: pd.DataFrame = module.simulate(3, 2, start=7000, hours=400).frame
    return frame


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(
            {
                "t": pd.to_datetime(["2025-01-01 00:00", "2025-01-01 01:00", "2025-03-02 23:00"]),
                "x": [-0.0, 1e-7, 123456789.125],
                "y": [np.nan, 3.0, -2.5],
                "n": [1, -2, 3],
                "s": ["P01", "a b", "é"],
            }
        ),
        pd.DataFrame({"day": pd.to_datetime(["2025-01-01", "2025-01-02"]), "v": [0.1, 0.2]}),
        pd.DataFrame(  # repeated values are formatted once: NaN, 0.0 and -0.0 must stay apart
            {
                "x": [0.0, -0.0, np.nan, 0.0, 2.5, np.nan, 2.5, -0.0],
                "y": [0.1, 0.1, np.nan, 0.30000000000000004, 0.3, 0.1, np.nan, 1e300],
                "n": [7, 7, -1, 0, 7, -1, 2**62, 0],
            }
        ),
        pd.DataFrame({"x": np.array([], dtype=float), "n": np.array([], dtype=np.int64)}),
    ],
    ids=["mixed", "dates-only", "repeats", "no-rows"],
)
def test_same_bytes_as_pandas(frame: pd.DataFrame, tmp_path: Path) -> None:
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    write_csv(frame, tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_same_bytes_as_pandas_on_real_pump_rows(tmp_path: Path) -> None:
    frame = _generate()
    assert frame.isna().any().any()  # dropouts included
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    write_csv(frame, tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pd.DataFrame({"s": ["a,b"]}), "quoting"),
        (pd.DataFrame({"s": ["a", None]}, dtype=object), "not supported|quoting"),
        (pd.DataFrame({"t": pd.to_datetime(["2025-01-01 00:00:00.5"])}), "whole-second"),
        (pd.DataFrame({"a,b": [1]}), "rename"),
    ],
)
def test_refuses_what_it_cannot_write_the_same(
    frame: pd.DataFrame, match: str, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match=match):
        write_csv(frame, tmp_path / "x.csv")
