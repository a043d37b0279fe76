"""A plain reference solution: default gradient boosting on a competition's public files.

The leak audit grades it on the private part to ask whether a competition's medals mean
anything (`mledojo.grading.audit`, docs/scoring.md "Medals and implausibility"): when an
untuned model with no feature work beats the best honest human, a medal only says "ran a
default model". It reads only the public `train.csv` and `test.csv` (never the answers),
runs on the host (the files are the benchmark's own, prepared by mledojo), and is
deterministic (`random_state=0`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mledojo.competition import CompetitionSpec
from mledojo.errors import GradingError
from mledojo.grading.metrics import RANKED_LABELS, positive_label
from mledojo.grading.validate import submission_layout

MAX_CATEGORIES = 250
"""Gradient boosting takes at most 255 categories; a text column with more becomes codes."""
DATE_SHARE = 0.95
"""A text column is a date when this share of its values parses as one."""
MAX_BOOSTED_CLASSES = 20
"""Past this many classes (leaf-classification's 99), one tree per class per round is too
slow for a check: a standardised logistic regression stands in, as in the baseline agent."""
LOG_METRICS = ("rmsle", "mean_columnwise_rmsle")
"""Metrics on log(1 + y): the model fits log1p of the target, as anyone would."""


def _features(train: pd.DataFrame, test: pd.DataFrame, spec: CompetitionSpec) -> pd.DataFrame:
    """Train and test rows stacked, feature columns only: numbers as they are, dates as
    calendar parts, text as pandas categories (codes when there are too many),
    identifier-like text and the id column dropped (unless the id is a date)."""
    columns = [c for c in test.columns if c in train.columns and c not in spec.targets]
    if _as_time(test[spec.id_column]) is None:  # an id that is a time (an hour) is a feature
        columns.remove(spec.id_column)
    both = pd.concat([train[columns], test[columns]], ignore_index=True)
    for col in columns:
        values = both[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            continue
        stamps = _as_time(values)
        if stamps is not None:  # a date: its calendar parts and its position in time
            both = both.drop(columns=col)
            for part in ("year", "month", "day", "hour", "day_of_week"):
                both[f"{col}_{part}"] = getattr(stamps.dt, part)
            both[f"{col}_seconds"] = (stamps - pd.Timestamp(0)).dt.total_seconds()
            continue
        levels = values.nunique()
        if levels > MAX_CATEGORIES and levels > 0.5 * len(both):
            both = both.drop(columns=col)
        elif levels > MAX_CATEGORIES:
            both[col] = values.astype(str).astype("category").cat.codes.astype(float)
        else:
            both[col] = values.astype(str).astype("category")
    return both


def _as_time(values: pd.Series) -> pd.Series | None:
    """A text column of dates as timestamps, else None (most values must parse)."""
    if pd.api.types.is_bool_dtype(values) or values.nunique() < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stamps = pd.to_datetime(values, errors="coerce", format="mixed")
    return stamps if stamps.notna().mean() > DATE_SHARE else None


def reference_submission(spec: CompetitionSpec, public_dir: Path) -> pd.DataFrame:
    """Predictions of default `HistGradientBoosting*` (a logistic regression past
    `MAX_BOOSTED_CLASSES` classes) for every test row, shaped as a
    submission of the competition's layout (columns and prediction kind).

    On one thread: the fits are small, and OpenMP threads fighting over busy cores made one
    fit 15x slower here (icr: 12.2 s on two threads under load, 0.8 s on one)."""
    with threadpool_limits(limits=1):
        return _reference_submission(spec, public_dir)


def _reference_submission(spec: CompetitionSpec, public_dir: Path) -> pd.DataFrame:
    try:
        train = pd.read_csv(public_dir / "train.csv", low_memory=False)
        test = pd.read_csv(public_dir / "test.csv", low_memory=False)
    except (OSError, ValueError) as e:
        raise GradingError(f"the reference solution cannot read {public_dir}: {e}") from e
    missing = [t for t in spec.targets if t not in train.columns]
    if missing:
        raise GradingError(f"{public_dir / 'train.csv'} lacks the target column(s) {missing}")
    both = _features(train, test, spec)
    x_train, x_test = both.iloc[: len(train)], both.iloc[len(train) :]
    layout = submission_layout(spec)
    out = pd.DataFrame({spec.id_column: test[spec.id_column].to_numpy()})
    if layout.kind == "value":
        for target in spec.targets:
            keep = train[target].notna().to_numpy()
            y = train[target].to_numpy(dtype=float)[keep]
            log = spec.metric.name in LOG_METRICS
            regressor = HistGradientBoostingRegressor(random_state=0)
            regressor.fit(x_train[keep], np.log1p(np.clip(y, 0, None)) if log else y)
            pred = regressor.predict(x_test)
            out[target] = np.clip(np.expm1(pred), 0, None) if log else pred
        return out
    if spec.task == "multi_label":  # one classifier per 0/1 target column
        for target in spec.targets:
            classifier, classes = _fit_classifier(train, target, x_train)
            positive = positive_label(classes)
            out[target] = classifier.predict_proba(_view(x_test, classifier))[
                :, classes.index(positive)
            ]
        return out
    target = spec.targets[0]
    classifier, classes = _fit_classifier(train, target, x_train)
    x_test = _view(x_test, classifier)
    if layout.kind == "ranked_labels":  # the most probable classes, best first
        proba = classifier.predict_proba(x_test)
        best = np.argsort(-proba, axis=1, kind="stable")[:, :RANKED_LABELS]
        names = np.asarray(classes, dtype=object)[best]
        out[target] = [" ".join(row) for row in names]
    elif layout.kind == "label":
        original = {str(v): v for v in train[target].dropna().unique()}
        out[target] = [original[p] for p in classifier.predict(x_test)]
    elif layout.kind == "probability":
        positive = positive_label(classes, spec.classes)
        out[target] = classifier.predict_proba(x_test)[:, classes.index(positive)]
    else:
        proba = classifier.predict_proba(x_test)
        for name in layout.prediction_columns:
            out[name] = proba[:, classes.index(name)] if name in classes else 0.0
    return out


def _fit_classifier(
    train: pd.DataFrame, target: str, x_train: pd.DataFrame
) -> tuple[ClassifierMixin, list[str]]:
    """Default gradient boosting on the labelled rows of `target` (a standardised logistic
    regression on category codes past `MAX_BOOSTED_CLASSES`), and its classes as text."""
    keep = train[target].notna().to_numpy()
    labels = train[target][keep].astype(str).to_numpy()
    classifier: ClassifierMixin = HistGradientBoostingClassifier(
        random_state=0, categorical_features="from_dtype"
    )
    if len(set(labels)) > MAX_BOOSTED_CLASSES:
        classifier = make_pipeline(
            SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)
        )
    classifier.fit(_view(x_train, classifier)[keep], labels)
    return classifier, [str(c) for c in classifier.classes_]


def _view(x: pd.DataFrame, classifier: ClassifierMixin) -> pd.DataFrame:
    """The features as `classifier` takes them: categories as codes for the pipeline."""
    if isinstance(classifier, HistGradientBoostingClassifier):
        return x
    return x.apply(lambda c: c.cat.codes if c.dtype == "category" else c)
