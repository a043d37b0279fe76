"""A trained model on disk: the estimator (`<name>.model.pkl`) and what it needs
(`<name>.model.json`: task, features, classes, target, what it was trained on).

Predictions are made here for every tool that needs them, so a model is always fed the
same feature columns in the same order, and class labels map back to the original values.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from ._base import ToolArgumentError, ToolError
from ._columns import Task
from ._ledger import read_vouched
from ._paths import handle_path, resolve_input, sandbox_path, write_atomic
from ._safe import MIN_GROUP_ROWS, label

MODEL_SUFFIX = ".model.pkl"
MODEL_META_SUFFIX = ".model.json"
EVAL_INFIX = ".eval-"  # <model>.eval-<data hash>.json, written by evaluate_model


class ModelMeta(BaseModel):
    """The description saved next to a model."""

    model_config = ConfigDict(extra="forbid")

    name: str
    algorithm: str
    task: Task
    target: str
    features: list[str]
    classes: list[Any] = []  # original labels; binary: [negative, positive]
    class_counts: list[int] = []  # training rows per class
    params: dict[str, Any]
    trained_on: str  # sha256 of the training table
    lineage: str
    part: str = ""
    row_keys: str = ""  # sandbox path of the training rows' content keys (`_rows.py`)
    train_rows: int
    id_column: str | None = None
    seed: int = 0


class LoadedModel(BaseModel):
    """A model ready to predict."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    meta: ModelMeta
    estimator: Any


def save_model(estimator: Any, meta: ModelMeta) -> str:
    """Write the estimator and its description; return the model's sandbox path."""
    from ._data import write_json
    from ._paths import sandbox_path

    pkl = handle_path(meta.name, MODEL_SUFFIX)

    def dump(tmp: Any) -> None:
        with open(tmp, "wb") as fh:
            pickle.dump(estimator, fh, protocol=pickle.HIGHEST_PROTOCOL)

    write_atomic(pkl, dump)
    write_json(handle_path(meta.name, MODEL_META_SUFFIX), meta.model_dump())
    # evaluations of an earlier model of this name describe another model: drop them
    for stale in pkl.parent.glob(f"{meta.name}{EVAL_INFIX}*.json"):
        stale.unlink(missing_ok=True)
    return sandbox_path(pkl)


def load_model(path: str, *, argument: str = "model") -> LoadedModel:
    """A model by its path (`/workspace/tools/<name>.model.pkl`) or its bare name."""
    if "/" not in path and not path.endswith(MODEL_SUFFIX):
        path = f"/workspace/tools/{path}{MODEL_SUFFIX}"
    real = resolve_input(path, argument=argument)
    if not real.name.endswith(MODEL_SUFFIX):
        raise ToolArgumentError(
            f"argument `{argument}`: a model is a *{MODEL_SUFFIX} file from train_model"
        )
    meta_path = real.with_name(real.name[: -len(MODEL_SUFFIX)] + MODEL_META_SUFFIX)
    try:
        meta = ModelMeta.model_validate_json(read_vouched(sandbox_path(meta_path), meta_path))
    except (OSError, ValidationError):
        raise ToolArgumentError(
            f"argument `{argument}`: the description {meta_path.name} is missing or damaged; "
            "train the model again"
        ) from None
    try:
        blob = read_vouched(sandbox_path(real), real)  # the bytes checked are the bytes loaded
    except OSError:
        raise ToolError(f"the model file {real.name} could not be read; retrain it") from None
    try:
        estimator = pickle.loads(blob)  # noqa: S301 - train_model's own bytes (the ledger)
    except Exception:  # noqa: BLE001
        raise ToolError(f"the model file {real.name} could not be loaded; retrain it") from None
    return LoadedModel(meta=meta, estimator=estimator)


def class_names(meta: ModelMeta) -> list[str]:
    """Class labels as replies show them: a class of fewer than 5 training rows is a row's
    value, so it is shown by its index only."""
    counts = meta.class_counts or [MIN_GROUP_ROWS] * len(meta.classes)
    return [
        label(c) if n >= MIN_GROUP_ROWS else f"(rare class {i})"
        for i, (c, n) in enumerate(zip(meta.classes, counts, strict=True))
    ]


def threads() -> int:
    """Threads a model may use: the image's thread setting (the episode's CPU limit)."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "2")))
    except ValueError:
        return 2


def feature_matrix(frame: pd.DataFrame, features: list[str], *, argument: str) -> pd.DataFrame:
    """The model's columns of `frame`, in order, as floats; errors name missing or text columns."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ToolArgumentError(
            f"argument `{argument}`: the table lacks {len(missing)} feature(s) the model needs, "
            f"e.g. {', '.join(missing[:10])}; transform it with the same engineer_features call"
        )
    X = frame[features]
    bad = [
        c
        for c in features
        if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
    ]
    if bad:
        raise ToolArgumentError(
            f"argument `{argument}`: non-numeric feature(s) {', '.join(bad[:10])}; encode them "
            "with engineer_features (encode: onehot/ordinal/frequency/target) or leave them out"
        )
    return X.astype("float64")


def predict_scores(
    model: LoadedModel, frame: pd.DataFrame, *, argument: str
) -> npt.NDArray[np.float64]:
    """Probabilities (binary: of the positive class; multiclass: one column per class) or values."""
    X = feature_matrix(frame, model.meta.features, argument=argument)
    if model.meta.task == "regression":
        return np.asarray(model.estimator.predict(X), dtype=float)
    proba = np.asarray(model.estimator.predict_proba(X), dtype=float)
    return proba[:, 1] if model.meta.task == "binary" else proba


def to_labels(
    model: LoadedModel, scores: npt.NDArray[np.float64], threshold: float = 0.5
) -> npt.NDArray[np.int64]:
    """Class indices from scores: the threshold for binary, the most likely class otherwise."""
    if model.meta.task == "binary":
        return (scores >= threshold).astype(np.int64)
    return np.asarray(np.argmax(scores, axis=1), dtype=np.int64)


def encode_target(model: LoadedModel, y: pd.Series, *, argument: str) -> npt.NDArray[Any]:
    """True values as class indices (classification) or floats; errors name unknown classes."""
    if y.isna().any():
        raise ToolArgumentError(f"argument `{argument}`: the target has missing values")
    if model.meta.task == "regression":
        return np.asarray(y.astype(float).to_numpy(), dtype=np.float64)
    index = {_key(c): i for i, c in enumerate(model.meta.classes)}
    codes = np.asarray(y.map(lambda v: index.get(_key(v), -1)).to_numpy(), dtype=np.int64)
    if (codes < 0).any():
        raise ToolArgumentError(
            f"argument `{argument}`: {int((codes < 0).sum())} row(s) hold a class the model "
            "never saw"
        )
    return codes.astype(np.int64)


def _key(value: Any) -> str:
    """A class label compared by its text, so 1, 1.0 and '1' from CSV and parquet agree."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
