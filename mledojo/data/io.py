"""CSV reading shared by competition `prepare.py` scripts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_exact(path: Path) -> pd.DataFrame:
    """Read a CSV so that floats survive a write unchanged (needed for byte-exact splits).

    pandas 3 parses floats at round-trip precision by default; older pandas needs asking.
    """
    if int(pd.__version__.split(".")[0]) >= 3:
        return pd.read_csv(path)
    return pd.read_csv(path, float_precision="round_trip")
