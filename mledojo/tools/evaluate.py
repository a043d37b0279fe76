"""`evaluate_model`: a model's metrics on a labelled table, recorded for `rank_experiments`.

Every metric that fits the task is computed (so any can rank later), plus a confusion
matrix and, for binary tasks, precision / recall / F1 across thresholds and the threshold
that maximises F1. A table that may hold rows the model trained on is flagged `in_sample`,
and such records are never ranked: by where it came from (its training table, the file that
was split, or a table derived from its training part) or by its rows' content (5 % more of
its rows are training rows, compared by feature and target values, than chance explains:
`_rows.py`), so a re-encoded copy of the validation part used for training is caught too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from ._base import ToolArgs, ToolArgumentError, ToolError
from ._data import Table, read_table, require_column, write_json
from ._metrics import BINARY_ONLY, METRICS, get_metric
from ._model import (
    EVAL_INFIX,
    LoadedModel,
    class_names,
    encode_target,
    load_model,
    predict_scores,
    to_labels,
)
from ._paths import sandbox_path, tools_dir
from ._rows import content_columns, content_overlap, is_in_sample, load_row_keys
from ._safe import num

MAX_THRESHOLDS = 99


class EvaluateArgs(ToolArgs):
    """Arguments of `evaluate_model`."""

    model: str = Field(description="model path from train_model, or its name")
    data: str = Field(description="labelled table the model did not train on (e.g. the valid part)")
    metric: str | None = Field(
        default=None, max_length=60, description="the competition's metric; default by task"
    )
    threshold: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="binary: probability above which a row is positive"
    )
    thresholds: int = Field(
        default=9, ge=0, le=MAX_THRESHOLDS, description="binary: points of the threshold analysis"
    )


def evaluate_model(args: EvaluateArgs) -> dict[str, Any]:
    """Score, analyse and record; see the module docstring."""
    model = load_model(args.model)
    table = read_table(args.data, argument="data")
    target = require_column(table, model.meta.target, argument="data")
    y = encode_target(model, table.frame[target], argument="data")
    scores = predict_scores(model, table.frame, argument="data")
    primary = args.metric or _default_metric(model)
    get_metric(primary)
    metrics = _all_metrics(model, y, scores, args.threshold)
    if primary not in metrics:
        raise ToolArgumentError(
            f"argument `metric`: {primary} does not apply to a {model.meta.task} model"
        )
    in_sample = _overlaps(model, table)
    found, chance = _content_overlap(model, table)
    in_sample = in_sample or is_in_sample(found, chance, len(table.frame))
    out: dict[str, Any] = {
        "model": model.meta.name,
        "algorithm": model.meta.algorithm,
        "data": table.path,
        "role": table.meta.role,
        "rows": int(len(y)),
        "metric": primary,
        "score": metrics[primary],
        "higher_is_better": METRICS[primary].higher_is_better,
        "metrics": metrics,
        "in_sample": in_sample,
        "training_rows_found": found,
        "training_rows_by_chance": round(chance * len(table.frame), 1),
    }
    if in_sample:
        out["warning"] = "this table may hold rows the model trained on: optimistic, not ranked"
    if model.meta.task != "regression":
        out["confusion_matrix"] = _confusion(model, y, to_labels(model, scores, args.threshold))
    if model.meta.task == "binary" and args.thresholds:
        out["threshold_analysis"] = _thresholds(y, scores, args.thresholds)
    record = {
        **out,
        "params": model.meta.params,
        "n_features": len(model.meta.features),
        "data_fingerprint": table.fingerprint,
        "model_trained_on": model.meta.trained_on,
    }
    # the model's name is a validated handle, so this stays a plain file name in tools/
    target_file = tools_dir() / f"{model.meta.name}{EVAL_INFIX}{table.fingerprint[:12]}.json"
    write_json(target_file, record)
    out["record"] = sandbox_path(target_file)
    return out


def _overlaps(model: LoadedModel, table: Table) -> bool:
    """True when the table may hold rows the model trained on: the same file, the file its
    training part was split from, a part of the file it trained on, or a table derived from
    its training part (features, selection, resampling keep the part)."""
    m, meta = model.meta, table.meta
    return (
        table.fingerprint in (m.trained_on, m.lineage)
        or meta.lineage == m.trained_on
        or bool(m.part and meta.part == m.part)
    )


def _content_overlap(model: LoadedModel, table: Table) -> tuple[int, float]:
    """Training rows found in `table` by content, and the share chance explains."""
    m = model.meta
    if not m.row_keys:
        raise ToolError(f"model {m.name} was saved without its training rows; train it again")
    return content_overlap(
        load_row_keys(m.name), table.frame, content_columns(m.features, m.target)
    )


def _default_metric(model: LoadedModel) -> str:
    return {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[model.meta.task]


def _all_metrics(
    model: LoadedModel, y: np.ndarray, scores: np.ndarray, threshold: float
) -> dict[str, float | None]:
    task = model.meta.task
    labels = to_labels(model, scores, threshold) if task != "regression" else None
    out: dict[str, float | None] = {}
    for name, m in METRICS.items():
        if name == "mean_columnwise_rmsle":
            continue
        if task == "regression":
            if m.kind == "probability" or name in (
                "accuracy",
                "f1",
                "f1_micro",
                "f1_macro",
                "map_at_3",
            ):
                continue
            if m.kind == "label" and not np.all(np.mod(y, 1) == 0):
                continue  # kappa is for integer ratings
            pred = np.rint(scores) if m.kind == "label" else scores
        else:
            if m.kind == "value" or (name in BINARY_ONLY and task != "binary"):
                continue
            pred = labels if m.kind == "label" else scores
        try:
            out[name] = _round_metric(m.fn(y, pred))
        except (ToolError, ValueError):  # undefined here (e.g. one class): reported as null
            out[name] = None
    return out


def _round_metric(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


def _confusion(model: LoadedModel, y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    k = len(model.meta.classes)
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (y, pred), 1)
    return {
        "labels": class_names(model.meta),
        "rows_true_cols_pred": matrix.tolist(),
    }


def _thresholds(y: np.ndarray, p: np.ndarray, points: int) -> dict[str, Any]:
    grid = np.linspace(0, 1, points + 2)[1:-1]
    rows = []
    for t in grid:
        rows.append({"threshold": round(float(t), 4), **_prf(y, p >= t)})
    fine = np.linspace(0.01, 0.99, 99)
    f1s = [_prf(y, p >= t)["f1"] or 0.0 for t in fine]
    best = int(np.argmax(f1s))
    return {
        "table": rows,
        "best_f1_threshold": round(float(fine[best]), 2),
        "best_f1": num(f1s[best]),
    }


def _prf(y: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {
        "precision": num(precision),
        "recall": num(recall),
        "f1": num(f1),
        "positive_rate": num(float(pred.mean())),
    }
