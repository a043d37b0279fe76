"""pump-failure v2's labelled table: v1's simulation, unchanged (`prepare.py` builds the cases
from it). This file exists so that `source.file` names a file inside this folder: a spec may
not point outside its own competition folder (docs/adding-a-competition.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

V1_GENERATOR = Path(__file__).resolve().parent.parent / "pump-failure" / "generate.py"


def generate(seed: int) -> pd.DataFrame:
    """v1's `generate(seed)`."""
    spec = importlib.util.spec_from_file_location("mledojo_pump_failure_v1_generate", V1_GENERATOR)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {V1_GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame: pd.DataFrame = module.generate(seed)
    return frame
