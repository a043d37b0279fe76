"""Column kinds and the task a target implies, shared by profiling, splitting and training."""

from __future__ import annotations

from typing import Literal

import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
ColumnKind = Literal["numeric", "boolean", "datetime", "categorical", "text"]
MAX_CLASSES = 50
TIME_SAMPLE = 200


def parse_time(series: pd.Series) -> pd.Series | None:
    """`series` as datetimes when (nearly) every value is a date or time stamp, else None."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return None
    sample = series.dropna().astype(str).head(TIME_SAMPLE)
    if sample.empty or not sample.str.contains(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}").all():
        return None
    parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    if parsed.notna().sum() < 0.95 * series.notna().sum():
        return None
    return parsed


def column_kind(series: pd.Series) -> ColumnKind:
    """How a column is best treated: numbers, booleans, times, categories or free text."""
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if parse_time(series) is not None:
        return "datetime"
    n_unique = series.nunique(dropna=True)
    if n_unique <= max(50, int(0.05 * max(1, len(series)))):
        return "categorical"
    return "text"


def infer_task(target: pd.Series) -> Task:
    """binary (2 values), multiclass (few discrete values or text) or regression."""
    values = target.dropna()
    n_unique = values.nunique()
    if n_unique <= 2:
        return "binary"
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric:
        return "multiclass"
    integral = bool((values == values.round()).all())
    if integral and n_unique <= min(MAX_CLASSES, 20):
        return "multiclass"
    return "regression"
