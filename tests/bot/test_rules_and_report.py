"""The rules planner's designs and code, and the report writer (no sandbox needed)."""

from __future__ import annotations

from pathlib import Path

from mledojo.bot.context import TaskContext, context_from_profile
from mledojo.bot.orchestrate import check_code
from mledojo.bot.report import render_html, write_report
from mledojo.bot.rules import rules_code, rules_design, rules_review
from mledojo.bot.schemas import BotState, CodeAttempt, ExperimentRecord, IterationRecord

TASK = {
    "targets": ["failure_24h"],
    "id_column": "id",
    "task": "binary",
    "metric": "roc_auc",
    "higher_is_better": True,
}
PROFILE = {
    "shape": [1000, 6],
    "column_profiles": {
        "id": {"kind": "numeric"},
        "timestamp": {"kind": "datetime"},
        "pump_id": {"kind": "categorical"},
        "pump_size": {"kind": "categorical"},
        "vibration": {"kind": "numeric"},
        "temp": {"kind": "numeric"},
        "failure_24h": {"kind": "numeric"},
    },
    "candidates": {
        "id_columns": ["id"],
        "time_columns": ["timestamp"],
        "group_columns": ["pump_id"],
    },
    "target": {"correlations": {"temp": 0.2, "vibration": 0.1}},
}


def panel() -> TaskContext:
    return context_from_profile(TASK, PROFILE)


def test_column_roles_come_from_the_profile() -> None:
    ctx = panel()
    assert (ctx.time_column, ctx.group_column) == ("timestamp", "pump_id")
    assert ctx.numeric_columns == ["vibration", "temp"]
    assert ctx.roll_columns == ["temp", "vibration"]  # most correlated first
    assert ctx.categorical_columns == ["pump_size"]  # the group column is not one-hot encoded


def test_first_design_sweeps_families_and_uses_rolling_features_on_a_panel() -> None:
    design = rules_design(panel(), [], 3)
    assert [e.algorithm for e in design.experiments] == [
        "lightgbm",
        "logistic_regression",
        "random_forest",
    ]
    assert design.experiments[0].feature_strategy == "rolling"
    assert len(rules_design(panel(), [], 2).experiments) == 2
    flat = context_from_profile(TASK, {**PROFILE, "candidates": {}})
    assert rules_design(flat, [], 3).experiments[0].feature_strategy == "encoded"


def test_template_code_passes_the_check_and_rolls_per_group() -> None:
    ctx = panel()
    for plan in rules_design(ctx, [], 3).experiments:
        code = rules_code(plan, ctx).code
        check_code(code)
        assert 'call_tool("train_model"' in code and "result = " in code
    rolling = rules_code(rules_design(ctx, [], 3).experiments[0], ctx).code
    assert "'group_column': 'pump_id'" in rolling and "'rolling'" in rolling


def record(name: str, score: float | None, iteration: int = 1) -> ExperimentRecord:
    plan = rules_design(panel(), [], 3).experiments[0].model_copy(update={"name": name})
    return ExperimentRecord(
        iteration=iteration,
        plan=plan,
        status="ok" if score is not None else "failed",
        score=score,
        attempts=[CodeAttempt(code="result = {}\n", error=None if score else "boom")],
    )


def test_later_designs_refine_the_best_and_the_review_stops_on_a_plateau() -> None:
    ctx = panel()
    history = [record("a", 0.80), record("b", 0.85)]
    refined = rules_design(ctx, history, 3)
    assert len(refined.experiments) == 1 and "b" in refined.experiments[0].rationale
    assert rules_review(ctx, history, 1, 3).decision == "continue"
    assert rules_review(ctx, history, 3, 3).decision == "stop"
    flat = [*history, record("c", 0.8501, iteration=2)]
    assert rules_review(ctx, flat, 2, 3).decision == "stop"  # gain below the plateau
    better = [*history, record("c", 0.90, iteration=2)]
    assert rules_review(ctx, better, 2, 3).decision == "continue"


def test_report_ranks_and_escapes_hostile_text(tmp_path: Path) -> None:
    ctx = panel()
    hostile = record("evil", 0.7).model_copy(
        update={
            "plan": record("evil", 0.7).plan.model_copy(
                update={"rationale": "<script>alert(1)</script>"}
            )
        }
    )
    state = BotState(
        key="k",
        model="rules",
        problem="Predict pump failures",
        profile=PROFILE,
        iterations=[IterationRecord(iteration=1, design=rules_design(ctx, [], 3))],
        experiments=[hostile, record("good", 0.9), record("bad", None)],
        best="good",
    )
    write_report(tmp_path, state, ctx, planner="rules (no LLM)")
    md = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| 1 | good (submitted)") and rows[-1].startswith("| 3 | bad")
    assert "rules (no LLM)" in md and "rules (no LLM)" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "://" not in page  # self-contained: no URL at all
    assert render_html("```\n<b>\n```").count("&lt;b&gt;") == 1


def test_colliding_or_reserved_experiment_names_are_renamed() -> None:
    from mledojo.bot.engine import unique_names

    design = rules_design(panel(), [], 3)
    plans = design.experiments
    clash = design.model_copy(
        update={
            "experiments": [
                plans[0],
                plans[1].model_copy(update={"name": plans[0].name}),
                plans[2].model_copy(update={"name": "bot_split"}),
            ]
        }
    )
    names = [p.name for p in unique_names(clash, {"forest_raw"}).experiments]
    assert len(set(names)) == 3 and not any(n.startswith("bot_") for n in names)
    assert names[0] == plans[0].name
