"""The table of trusted tools and the definitions an LLM gets.

`TOOLS` maps a name to a callable `dict -> dict` (the runner's contract: JSON object in,
JSON object out; a `ToolError` is the reply's error); `call` runs one under the host's
ledger of tool outputs (`_ledger.py`), as the runner does. `tool_definitions()` lists name,
description and the JSON schema of the arguments. Imported relatively so that the same
file is `mledojo.tools.registry` on the host and the runner's private package inside the
sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._base import ToolSpec
from ._ledger import ledger_of_call
from .evaluate import EvaluateArgs, evaluate_model
from .explore import ExploreArgs, explore_dataset
from .features import FeatureArgs, engineer_features
from .predict import PredictArgs, get_predictions
from .profile import ProfileArgs, profile_dataset
from .rank import RankArgs, rank_experiments
from .resample import ResampleArgs, resample_dataset
from .select import SelectArgs, select_features
from .split import SplitArgs, split_dataset
from .submission import SubmissionArgs, write_submission
from .train import TrainArgs, train_model

_HANDLES = (
    " Tables move between tools as files under /workspace/tools (the reply names them);"
    " pass those paths on, never data values."
)

SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "profile_dataset",
        "Aggregate profile of a table: shape, column kinds, missing %, rounded statistics, "
        "frequent categories, date range, candidate id/time/group columns, target "
        "distribution and the features most correlated with it. Never returns rows.",
        ProfileArgs,
        profile_dataset,
    ),
    ToolSpec(
        "explore_dataset",
        "Aggregate views: target rate/mean per category or numeric bin, histograms, most "
        "correlated column pairs, a time trend per period, group sizes. Groups of fewer "
        "than 5 rows are lumped together. Never returns rows.",
        ExploreArgs,
        explore_dataset,
    ),
    ToolSpec(
        "split_dataset",
        "Split a labelled table into train / valid (/ test) parts without leakage: by time "
        "(valid strictly later), by group (disjoint groups), stratified or random; `auto` "
        "picks from the arguments." + _HANDLES,
        SplitArgs,
        split_dataset,
    ),
    ToolSpec(
        "engineer_features",
        "Add causal rolling windows, lags and differences per group (sorted by the time "
        "column), time features, encodings (onehot, ordinal, frequency, target), imputation "
        "and scaling. Fitted on `train` only and applied to `apply_to` (e.g. valid, test); "
        "the fitted state is saved as <name>.pipeline.json." + _HANDLES,
        FeatureArgs,
        engineer_features,
    ),
    ToolSpec(
        "select_features",
        "Keep the useful feature columns (importance, variance, correlation or an explicit "
        "list), chosen on `train` only and applied to `apply_to`." + _HANDLES,
        SelectArgs,
        select_features,
    ),
    ToolSpec(
        "resample_dataset",
        "Rebalance classes by under- or over-sampling. Only a training part (role train) is "
        "accepted; validation and test parts are refused." + _HANDLES,
        ResampleArgs,
        resample_dataset,
    ),
    ToolSpec(
        "train_model",
        "Train xgboost, lightgbm, random_forest, gradient_boosting (sklearn), "
        "logistic_regression or linear_regression on a training table (binary, multiclass "
        "or regression). Hyperparameters are checked against each algorithm's allowed "
        "ranges. Saves /workspace/tools/<name>.model.pkl.",
        TrainArgs,
        train_model,
    ),
    ToolSpec(
        "get_predictions",
        "Write a model's predictions for a table to a handle (id + prediction columns)." + _HANDLES,
        PredictArgs,
        get_predictions,
    ),
    ToolSpec(
        "evaluate_model",
        "Score a model on a labelled table it did not train on: every metric of its task, the "
        "named one as `score`, a confusion matrix, and a threshold analysis for binary "
        "tasks. The evaluation is recorded for rank_experiments.",
        EvaluateArgs,
        evaluate_model,
    ),
    ToolSpec(
        "rank_experiments",
        "Rank the recorded evaluations by a metric name (its direction applied), comparing "
        "only evaluations on the same table and never in-sample ones.",
        RankArgs,
        rank_experiments,
    ),
    ToolSpec(
        "write_submission",
        "Write the submission CSV from a model and the test table (columns and row order of "
        "the sample submission when given; probability or label chosen by the metric).",
        SubmissionArgs,
        write_submission,
    ),
)

TOOLS: dict[str, ToolSpec] = {spec.name: spec for spec in SPECS}


def tool_definitions() -> list[dict[str, Any]]:
    """Name, description and JSON schema of the arguments of every tool, for an LLM."""
    return [spec.definition() for spec in SPECS]


def call(
    name: str, args: dict[str, Any], known: Mapping[str, str] | None, written: dict[str, str]
) -> dict[str, Any]:
    """Run tool `name` trusting only the outputs in `known` (None: no checks).

    `written` receives the digest of every file the call wrote, even when the tool fails
    part-way, so the host's ledger stays complete.
    """
    with ledger_of_call(known) as ledger:
        try:
            return TOOLS[name](args)
        finally:
            if ledger is not None:
                written.update(ledger.written)
