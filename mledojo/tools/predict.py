"""`get_predictions`: a model's predictions for a table, written as a handle (never returned).

The handle holds the id column (when known) and `prediction` (positive-class probability,
class label or value), plus `proba_<k>` per class for multiclass models. The reply carries
only the handle and rounded summary statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from ._base import HANDLE_PATTERN, ToolArgs
from ._data import TableMeta, read_table, write_table
from ._model import load_model, predict_scores
from ._safe import num


class PredictArgs(ToolArgs):
    """Arguments of `get_predictions`."""

    model: str = Field(description="model path from train_model, or its name")
    data: str = Field(description="table with the model's feature columns")
    name: str = Field(default="predictions", pattern=HANDLE_PATTERN, max_length=64)


def get_predictions(args: PredictArgs) -> dict[str, Any]:
    """Predict and write the handle; see the module docstring."""
    model = load_model(args.model)
    table = read_table(args.data, argument="data")
    scores = predict_scores(model, table.frame, argument="data")
    out = pd.DataFrame(index=range(len(table.frame)))
    id_column = table.meta.id_column or model.meta.id_column
    if id_column and id_column in table.frame.columns:
        out[id_column] = table.frame[id_column].to_numpy()
    if model.meta.task == "multiclass":
        for i in range(scores.shape[1]):
            out[f"proba_{i}"] = scores[:, i]
        out["prediction"] = [model.meta.classes[i] for i in np.argmax(scores, axis=1)]
        summary: dict[str, Any] = {"mean_proba": [num(v) for v in scores.mean(axis=0)]}
    else:
        out["prediction"] = scores
        summary = {
            k: num(v)
            for k, v in pd.Series(scores).describe()[["mean", "std", "min", "50%", "max"]].items()
        }
    meta = TableMeta(
        role=table.meta.role,
        id_column=id_column,
        created_by="get_predictions",
        lineage=table.fingerprint,
    )
    info = write_table(out, args.name, meta)
    info["task"] = model.meta.task
    info["summary"] = summary
    return info
