"""`write_submission`: the model's predictions for the test table as the submission CSV.

The columns and the row order follow `sample_submission` when given (its ids must be
exactly the table's ids), else `<id>,<target>`. What goes in the target column follows the
metric: a probability for roc_auc / log_loss, a class label for accuracy / F1 / kappa, a
value for regression metrics. Multiclass probabilities get one column per class.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from ._base import MAX_COLUMN_NAME, ToolArgs, ToolArgumentError
from ._data import read_table, require_column
from ._metrics import get_metric
from ._model import load_model, predict_scores, to_labels
from ._paths import resolve_output, sandbox_path, write_atomic

Prediction = Literal["auto", "probability", "label", "value"]


class SubmissionArgs(ToolArgs):
    """Arguments of `write_submission`."""

    model: str = Field(description="model path from train_model, or its name")
    data: str = Field(description="the test table, transformed like the training table")
    output: str = Field(default="/workspace/submission.csv", description="inside /workspace")
    id_column: str | None = Field(default=None, max_length=MAX_COLUMN_NAME)
    target_column: str | None = Field(
        default=None, max_length=MAX_COLUMN_NAME, description="default: the model's target"
    )
    sample_submission: str | None = Field(
        default=None, description="e.g. /data/sample_submission.csv"
    )
    metric: str | None = Field(
        default=None,
        max_length=60,
        description="the competition's metric: decides probability vs label",
    )
    prediction: Prediction = "auto"
    threshold: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="binary labels: positive above this probability"
    )


def write_submission(args: SubmissionArgs) -> dict[str, Any]:
    """Write the CSV; see the module docstring."""
    model = load_model(args.model)
    table = read_table(args.data, argument="data")
    if table.meta.role in ("train", "valid"):
        raise ToolArgumentError(
            f"argument `data`: {table.path} is a {table.meta.role} part; a submission predicts "
            "the competition's test rows: pass /data/test.csv transformed like the training table"
        )
    id_column = args.id_column or table.meta.id_column or model.meta.id_column
    if id_column is None and args.sample_submission:
        id_column = str(
            read_table(args.sample_submission, argument="sample_submission").frame.columns[0]
        )
    id_column = require_column(table, id_column, argument="id_column")
    ids = table.frame[id_column]
    if ids.duplicated().any():
        raise ToolArgumentError(
            f"argument `id_column`: {id_column!r} has duplicate ids in {table.path}"
        )
    target = args.target_column or model.meta.target
    kind = _kind(args, model.meta.task)
    scores = predict_scores(model, table.frame, argument="data")
    out = pd.DataFrame({id_column: ids.to_numpy()})
    classes = model.meta.classes
    if kind == "probability" and model.meta.task == "multiclass":
        for i, c in enumerate(classes):
            out[str(c)] = scores[:, i]
    elif kind == "probability":
        out[target] = scores
    elif kind == "label":
        if model.meta.task == "regression":
            out[target] = np.rint(scores).astype(int)
        else:
            out[target] = [classes[i] for i in to_labels(model, scores, args.threshold)]
    else:
        if model.meta.task != "regression":
            raise ToolArgumentError("argument `prediction`: `value` is for regression models")
        out[target] = scores
    if args.sample_submission:
        out = _follow_sample(out, args.sample_submission, id_column)
    target_path = resolve_output(args.output, argument="output")
    if not target_path.name.endswith(".csv"):
        raise ToolArgumentError("argument `output`: a submission is a .csv file")
    write_atomic(target_path, lambda tmp: out.to_csv(tmp, index=False))
    return {
        "submission": sandbox_path(target_path),
        "rows": int(len(out)),
        "columns": [str(c) for c in out.columns][:60],
        "prediction": kind,
    }


def _kind(args: SubmissionArgs, task: str) -> str:
    if args.prediction != "auto":
        return args.prediction
    if args.metric:
        return get_metric(args.metric).kind
    return {"binary": "probability", "multiclass": "label", "regression": "value"}[task]


def _follow_sample(out: pd.DataFrame, path: str, id_column: str) -> pd.DataFrame:
    sample = read_table(path, argument="sample_submission").frame
    if id_column not in sample.columns:
        raise ToolArgumentError(f"argument `sample_submission`: it has no id column {id_column!r}")
    missing = [c for c in sample.columns if c not in out.columns]
    if missing:
        raise ToolArgumentError(
            f"argument `sample_submission`: it expects column(s) {', '.join(missing[:10])} "
            "that the predictions lack; check `target_column` and `prediction`"
        )
    key = out[id_column].astype(str)
    wanted = sample[id_column].astype(str)
    if len(wanted) != len(key) or set(wanted) != set(key):
        raise ToolArgumentError(
            f"argument `data`: its {len(key)} ids are not the {len(wanted)} ids of the sample "
            "submission; predict on the competition's test table"
        )
    ordered = out.set_index(key).loc[wanted.to_numpy()].reset_index(drop=True)
    ordered[id_column] = sample[id_column].to_numpy()
    return ordered[list(sample.columns)]
