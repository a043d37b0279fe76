"""`--model rules`: a deterministic planner with no LLM that fills the bot's schemas.

It designs sensible experiments from the profile (gradient boosting with causal rolling
features for a panel of time series, a linear baseline, a forest), writes orchestration
code from templates, and stops on a plateau. Its results are labelled "no LLM".
"""

from __future__ import annotations

from typing import Any

from mledojo.bot.context import TaskContext
from mledojo.bot.schemas import (
    Algorithm,
    Design,
    ExperimentPlan,
    ExperimentRecord,
    FeatureStrategy,
    HyperParam,
    OrchestrationCode,
    Review,
)
from mledojo.competition import MetricSpec

PLATEAU = 1e-3


def _hp(**values: float | int | str | bool) -> list[HyperParam]:
    return [HyperParam(name=k, value=v) for k, v in values.items()]


def _linear(ctx: TaskContext) -> Algorithm:
    return "linear_regression" if ctx.task == "regression" else "logistic_regression"


def rules_design(ctx: TaskContext, history: list[ExperimentRecord], size: int) -> Design:
    """First batch: a broad sweep; later batches: refine the best experiment so far."""
    panel = ctx.time_column is not None and ctx.group_column is not None
    if not history:
        rich: FeatureStrategy = "rolling" if panel else "encoded"
        plans = [
            ExperimentPlan(
                name="lgbm_" + rich,
                algorithm="lightgbm",
                params=_hp(n_estimators=300, learning_rate=0.05, num_leaves=31),
                feature_strategy=rich,
                rationale=(
                    "Gradient boosting is strong on tabular data; "
                    + (
                        "the data is a panel of time series, so causal rolling windows and "
                        "lags per group capture each unit's recent behaviour."
                        if panel
                        else "categorical columns are encoded and time parts extracted."
                    )
                ),
            ),
            ExperimentPlan(
                name="linear_encoded",
                algorithm=_linear(ctx),
                params=_hp(C=1.0) if ctx.task != "regression" else _hp(alpha=1.0),
                feature_strategy="encoded",
                rationale="A scaled linear model is a fast, robust baseline to beat.",
            ),
            ExperimentPlan(
                name="forest_raw",
                algorithm="random_forest",
                params=_hp(n_estimators=60, min_samples_leaf=20, max_depth=10),
                feature_strategy="raw",
                rationale="A random forest on the raw numeric columns checks how much the "
                "engineered features add.",
            ),
        ]
        return Design(
            strategy="Sweep three model families of increasing feature richness, then "
            "refine the best.",
            experiments=plans[: max(1, size)],
        )
    ok = [e for e in history if e.status == "ok" and e.score is not None]
    base = best_of(ok, ctx.metric_spec) or history[0]
    n = len({e.iteration for e in history}) + 1
    plan = base.plan
    if plan.algorithm in ("lightgbm", "xgboost"):
        params = _hp(n_estimators=600, learning_rate=0.03, num_leaves=63)
        if plan.algorithm == "xgboost":
            params = _hp(n_estimators=600, learning_rate=0.03, max_depth=8)
    elif plan.algorithm == "random_forest":
        params = _hp(n_estimators=400, min_samples_leaf=2)
    elif plan.algorithm == "gradient_boosting":
        params = _hp(max_iter=500, learning_rate=0.05)
    else:
        params = list(plan.params)
    refined = ExperimentPlan(
        name=f"{plan.algorithm.split('_')[0]}_tuned{n}",
        algorithm=plan.algorithm,
        params=params,
        feature_strategy=plan.feature_strategy,
        rationale=f"Refine the best experiment so far ({base.plan.name}): more capacity, "
        "slower learning.",
    )
    return Design(strategy=f"Iteration {n}: refine {base.plan.name}.", experiments=[refined])


def best_of(records: list[ExperimentRecord], metric: MetricSpec) -> ExperimentRecord | None:
    """The finished experiment with the best score (the first one on ties)."""
    scored = [r for r in records if r.status == "ok" and r.score is not None]
    return metric.best_by(scored, lambda r: float(r.score or 0.0))


def rules_review(
    ctx: TaskContext, history: list[ExperimentRecord], iteration: int, max_iterations: int
) -> Review:
    """Stop when the iterations are used up or the last batch did not improve the best."""
    if iteration >= max_iterations:
        return Review(decision="stop", reason=f"{max_iterations} iterations done")
    before = [r for r in history if r.iteration < iteration]
    last = best_of(history, ctx.metric_spec)
    prev = best_of(before, ctx.metric_spec)
    if last is None:
        return Review(decision="continue", reason="no experiment succeeded yet")
    if prev is not None and last.score is not None and prev.score is not None:
        gain = ctx.metric_spec.gain(last.score, prev.score)
        if gain < PLATEAU:
            return Review(decision="stop", reason=f"plateau: the best improved by {gain:.4g}")
    return Review(
        decision="continue",
        reason=f"best so far {last.plan.name} = {last.score:.4g}",
        next_focus=f"refine {last.plan.name}",
    )


def rules_code(plan: ExperimentPlan, ctx: TaskContext) -> OrchestrationCode:
    """Orchestration code for `plan` from a template (features, then training)."""
    lines = [
        "# orchestration code: every call_tool runs a trusted tool in the episode's container",
        'train, valid, test = ctx["train"], ctx["valid"], ctx["test"]',
    ]
    feature_args = _feature_args(plan, ctx)
    if feature_args is not None:
        lines += [
            f'features = call_tool("engineer_features", {_lit(feature_args)})',
            'out = features["outputs"]',
            'train, valid, test = out["train"]["path"], out["valid"]["path"], out["test"]["path"]',
        ]
    train_args: dict[str, Any] = {
        "target": ctx.target,
        "algorithm": plan.algorithm,
        "params": {p.name: p.value for p in plan.params},
        "id_column": ctx.id_column,
        "name": plan.name,
    }
    lines += [
        f"args = {_lit(train_args)}",
        'args["train"] = train',
        'model = call_tool("train_model", args)',
        'print("trained", model["algorithm"], "on", model["train_rows"], "rows,",'
        ' model["n_features"], "features")',
        'result = {"model": model["model"], "valid": valid, "test": test}',
    ]
    return OrchestrationCode(
        code="\n".join(lines) + "\n",
        explanation=f"{plan.feature_strategy} features, then {plan.algorithm}",
    )


def _feature_args(plan: ExperimentPlan, ctx: TaskContext) -> dict[str, Any] | None:
    if plan.feature_strategy == "raw":
        return None
    args: dict[str, Any] = {
        "train": "$train",
        "apply_to": ["$valid", "$test"],
        "name": f"{plan.name}_f",
        "target": ctx.target,
        "id_column": ctx.id_column,
    }
    if ctx.categorical_columns:
        args["encode"] = [{"column": c, "method": "onehot"} for c in ctx.categorical_columns[:10]]
    if ctx.time_column:
        args["time_column"] = ctx.time_column
        args["time_features"] = ["hour", "dayofweek", "month"]
    if plan.algorithm in ("logistic_regression", "linear_regression"):
        args["impute"], args["scale"] = "median", "standard"
    if plan.feature_strategy == "rolling" and ctx.time_column and ctx.group_column:
        args["group_column"] = ctx.group_column
        args["rolling"] = [
            {"column": c, "windows": [6, 24], "stats": ["mean", "std"]} for c in ctx.roll_columns
        ]
        args["lags"] = [{"column": c, "lags": [1]} for c in ctx.roll_columns]
        args["diffs"] = list(ctx.roll_columns)
        if ctx.case_history:  # each test case's windows come from its own past
            args["case_history"] = ctx.case_history
    return args


def _lit(value: Any) -> str:
    """A Python literal of `value`; `"$name"` strings become the variable `name`."""
    text = repr(value)
    for var in ("train", "valid", "test"):
        text = text.replace(f"'${var}'", var)
    return text
