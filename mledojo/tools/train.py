"""`train_model`: fit one model on a training table, save it as a handle.

Algorithms: xgboost, lightgbm, random_forest, gradient_boosting (sklearn's histogram
gradient boosting), logistic_regression (classification), linear_regression (ridge,
regression). The linear models impute medians and standardise inside the saved pipeline,
learnt from the training rows. A validation or test part cannot be trained on.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from ._base import HANDLE_PATTERN, MAX_COLUMN_NAME, MAX_LIST, ToolArgs, ToolArgumentError
from ._columns import MAX_CLASSES, Task, infer_task
from ._data import read_table, require_column
from ._hyper import Algorithm, ParamValue, describe_params, validate_params
from ._model import ModelMeta, class_names, feature_matrix, save_model, threads
from ._rows import content_columns, row_keys, save_row_keys
from ._safe import num

TaskArg = Literal["auto", "binary", "multiclass", "regression"]
MAX_IMPORTANCES = 20


class TrainArgs(ToolArgs):
    """Arguments of `train_model`."""

    train: str = Field(description="training table (a split's train part or engineered features)")
    target: str | None = Field(
        default=None, max_length=MAX_COLUMN_NAME, description="default: the table's target"
    )
    algorithm: Algorithm
    params: dict[str, ParamValue] = Field(
        default_factory=dict, max_length=30, description="hyperparameters: " + describe_params()
    )
    features: list[str] | None = Field(
        default=None,
        max_length=5000,
        description="default: every numeric column but target, id, time",
    )
    exclude: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    id_column: str | None = Field(
        default=None,
        max_length=MAX_COLUMN_NAME,
        description="never a feature; default: the table's",
    )
    task: TaskArg = "auto"
    name: str = Field(
        default="model", pattern=HANDLE_PATTERN, max_length=64, description="model handle"
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


def train_model(args: TrainArgs) -> dict[str, Any]:
    """Fit and save; see the module docstring."""
    table = read_table(args.train, argument="train")
    if table.meta.role in ("valid", "test"):
        raise ToolArgumentError(
            f"argument `train`: {table.path} is a {table.meta.role} part; models are trained "
            "on training data only (evaluate on this part instead)"
        )
    df = table.frame
    target = require_column(table, args.target or table.meta.target, argument="target")
    y_raw = df[target]
    if y_raw.isna().any():
        raise ToolArgumentError(
            f"argument `target`: {int(y_raw.isna().sum())} training rows lack the target; "
            "drop them first"
        )
    task: Task = infer_task(y_raw) if args.task == "auto" else args.task
    params = validate_params(args.algorithm, task, dict(args.params))
    features, skipped = _features(args, table.frame, target, table.meta)
    X = feature_matrix(df, features, argument="features")
    classes: list[Any] = []
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y_raw):
            raise ToolArgumentError(
                f"argument `task`: regression needs a numeric target, {target!r} is not"
            )
        y = y_raw.astype(float).to_numpy()
    else:
        classes = _classes(y_raw, task)
        y = y_raw.map({c: i for i, c in enumerate(classes)}).to_numpy().astype(np.int64)
    started = time.monotonic()
    estimator = _make(args.algorithm, task, params, args.seed, n_classes=len(classes))
    estimator.fit(X, y)
    seconds = time.monotonic() - started
    meta = ModelMeta(
        name=args.name,
        algorithm=args.algorithm,
        task=task,
        target=target,
        features=features,
        classes=[_plain(c) for c in classes],
        class_counts=[int(n) for n in np.bincount(y.astype(np.int64), minlength=len(classes))]
        if classes
        else [],
        params=params,
        trained_on=table.fingerprint,
        lineage=table.meta.lineage or table.fingerprint,
        part=table.meta.part,
        row_keys=save_row_keys(args.name, row_keys(df, content_columns(features, target))),
        train_rows=int(len(df)),
        id_column=args.id_column or table.meta.id_column,
        seed=args.seed,
    )
    path = save_model(estimator, meta)
    return {
        "model": path,
        "name": args.name,
        "algorithm": args.algorithm,
        "task": task,
        "params": params,
        "n_features": len(features),
        "skipped_columns": skipped[:50],
        "train_rows": int(len(df)),
        "classes": class_names(meta)[:MAX_CLASSES],
        "fit_seconds": num(seconds),
        "top_importances": _importances(estimator, features),
    }


def _features(
    args: TrainArgs, df: pd.DataFrame, target: str, meta: Any
) -> tuple[list[str], list[str]]:
    if args.features is not None:
        for c in args.features:
            if c not in df.columns:
                raise ToolArgumentError(
                    f"argument `features`: no column {c[:80]!r} in the training table"
                )
        if target in args.features:
            raise ToolArgumentError(
                f"argument `features`: the target {target!r} cannot be a feature"
            )
        if len(set(args.features)) != len(args.features):
            raise ToolArgumentError("argument `features`: a column is listed twice")
        return [c for c in args.features if c not in args.exclude], []
    reserved = {target, args.id_column or meta.id_column, meta.time_column, *args.exclude}
    numeric, skipped = [], []
    for c in df.columns:
        if c in reserved:
            continue
        if pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            numeric.append(c)
        else:
            skipped.append(c)
    if not numeric:
        raise ToolArgumentError(
            "no numeric feature column; encode columns with engineer_features first"
        )
    return numeric, skipped


def _classes(y: pd.Series, task: Task) -> list[Any]:
    values = sorted(y.unique().tolist(), key=lambda v: (str(type(v)), v))
    if task == "binary":
        if len(values) != 2:
            raise ToolArgumentError(
                f"argument `task`: binary needs exactly 2 classes, the target has {len(values)}"
            )
        for positive in (1, True, "1", "True", "true", "yes", "Yes"):
            if positive in values and type(positive) in (type(v) for v in values):
                return [v for v in values if v != positive] + [positive]
        return values
    if len(values) > MAX_CLASSES:
        raise ToolArgumentError(
            f"argument `task`: {len(values)} classes; the limit is {MAX_CLASSES} (regression?)"
        )
    if len(values) < 2:
        raise ToolArgumentError("the target has a single class; nothing to learn")
    return values


def _plain(value: Any) -> Any:
    """A class label as a JSON value."""
    return value.item() if isinstance(value, np.generic) else value


def _make(
    algorithm: str, task: Task, params: dict[str, ParamValue], seed: int, *, n_classes: int
) -> Any:
    jobs = threads()
    classify = task != "regression"
    if algorithm == "xgboost":
        import xgboost as xgb

        cls = xgb.XGBClassifier if classify else xgb.XGBRegressor
        extra: dict[str, Any] = {
            "tree_method": "hist",
            "n_jobs": jobs,
            "random_state": seed,
            "verbosity": 0,
        }
        if task == "multiclass":
            extra["objective"] = "multi:softprob"
        return cls(**params, **extra)
    if algorithm == "lightgbm":
        import lightgbm as lgb

        cls = lgb.LGBMClassifier if classify else lgb.LGBMRegressor
        p: dict[str, Any] = dict(params)
        if not classify:
            p.pop("class_weight", None)
        return cls(**p, n_jobs=jobs, random_state=seed, verbose=-1)
    if algorithm == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        p = dict(params)
        if not classify:
            p.pop("class_weight", None)
            if p.get("max_features") == "sqrt":
                p["max_features"] = 1.0
        cls = RandomForestClassifier if classify else RandomForestRegressor
        return cls(**p, n_jobs=jobs, random_state=seed)
    if algorithm == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        p = dict(params)
        if not classify:
            p.pop("class_weight", None)
            return HistGradientBoostingRegressor(**p, random_state=seed)
        return HistGradientBoostingClassifier(**p, random_state=seed)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if algorithm == "logistic_regression":
        head: Any = LogisticRegression(**params, random_state=seed)
    else:
        head = Ridge(**params)
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), head
    )


def _importances(estimator: Any, features: list[str]) -> dict[str, float | None]:
    values = getattr(estimator, "feature_importances_", None)
    if values is None and hasattr(estimator, "steps"):
        coef = getattr(estimator.steps[-1][1], "coef_", None)
        values = np.abs(np.atleast_2d(coef)).mean(axis=0) if coef is not None else None
    if values is None:
        return {}
    values = np.asarray(values, dtype=float)
    total = values.sum() or 1.0
    order = np.argsort(-values)[:MAX_IMPORTANCES]
    return {features[i]: num(values[i] / total) for i in order}
