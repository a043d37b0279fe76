"""Phase 5: `report.md` and a self-contained `report.html` in the episode folder.

Rewritten (atomically) as each experiment finishes, so a reader can follow a live run.
Everything shown comes from the bot's state: the profile's aggregates, each experiment's
plan, reasoning, code and metrics, the ranking, and how the strategy evolved. Text written
by an LLM is escaped in the HTML (it is hostile input like any other).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from mledojo._files import write_text_atomic
from mledojo.bot.context import TaskContext
from mledojo.bot.schemas import BotState, ExperimentRecord
from mledojo.competition import MetricSpec

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


def ranking(state: BotState, metric: MetricSpec) -> list[ExperimentRecord]:
    """Finished experiments, best first (failed ones last, in the order they ran)."""
    ok = [e for e in state.experiments if e.status == "ok" and e.score is not None]
    ok.sort(key=lambda e: metric.sort_key(float(e.score or 0.0)))
    return ok + [e for e in state.experiments if e not in ok]


def _dataset_lines(state: BotState, ctx: TaskContext) -> list[str]:
    p: dict[str, Any] = state.profile
    shape = p.get("shape") or ["?", "?"]
    target = p.get("target") or {}
    lines = [
        f"- rows × columns: {shape[0]} × {shape[1]}",
        f"- target `{ctx.target}` ({ctx.task}); metric {ctx.metric} "
        f"({'higher' if ctx.higher_is_better else 'lower'} is better)",
        f"- time column: {ctx.time_column or 'none'}; group column: {ctx.group_column or 'none'}",
        f"- numeric columns: {len(ctx.numeric_columns)}; "
        f"categorical: {len(ctx.categorical_columns)}",
    ]
    if "distribution" in target:
        lines.append(f"- target distribution: {json.dumps(target['distribution'])}")
    corr = target.get("correlations") or {}
    if corr:
        top = ", ".join(f"{k} {v}" for k, v in list(corr.items())[:6])
        lines.append(f"- most correlated with the target: {top}")
    lines.append(f"- validation part: {ctx.valid_rows} rows ({ctx.valid or 'not split yet'})")
    return lines


def render_markdown(state: BotState, ctx: TaskContext, *, planner: str) -> str:
    """The report as Markdown."""
    best = state.best
    out = [
        f"# MLE-Bot report: {state.key}",
        "",
        f"Planner: **{planner}**. Model option: `{state.model}`.",
        "",
        "## Problem",
        "",
        state.problem.strip()[:3000] or "(none given)",
        "",
        "## Dataset (aggregates from profile_dataset)",
        "",
        *_dataset_lines(state, ctx),
        "",
        "## Ranking (validation part, scored by the bot)",
        "",
        f"| rank | experiment | algorithm | features | {ctx.metric} | status | attempts |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, e in enumerate(ranking(state, ctx.metric_spec), 1):
        score = f"{e.score:.5g}" if e.score is not None else "-"
        mark = " (submitted)" if e.plan.name == best else ""
        out.append(
            f"| {i} | {e.plan.name}{mark} | {e.plan.algorithm} | {e.plan.feature_strategy} "
            f"| {score} | {e.status} | {len(e.attempts)} |"
        )
    out += ["", "## How the strategy evolved", ""]
    for it in state.iterations:
        out.append(f"### Iteration {it.iteration}")
        out += ["", it.design.strategy, ""]
        if it.review is not None:
            out += [f"Review: **{it.review.decision}**: {it.review.reason}", ""]
    for ex in state.explorations:
        cols = ex.get("columns")
        names = ", ".join(map(str, cols)) if isinstance(cols, list) else ""
        out += [f"Explored (target by {names}): aggregates sent to the planner.", ""]
    out += ["## Experiments", ""]
    for e in state.experiments:
        params = ", ".join(f"{p.name}={p.value}" for p in e.plan.params) or "defaults"
        out += [
            f"### {e.plan.name} (iteration {e.iteration}, {e.status})",
            "",
            f"- algorithm: {e.plan.algorithm} ({params}); features: {e.plan.feature_strategy}",
            f"- reasoning: {e.plan.rationale}",
            f"- score: {e.score if e.score is not None else '-'}; time: {e.seconds:.1f} s",
        ]
        if e.metrics:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in e.metrics.items() if v is not None)
            out.append(f"- metrics: {shown}")
        for n, a in enumerate(e.attempts, 1):
            out += ["", f"Attempt {n}" + (f": failed: {a.error}" if a.error else ": ok"), ""]
            out += ["```python", a.code.rstrip(), "```"]
        out.append("")
    if state.notes:
        out += ["## Notes", "", *[f"- {n}" for n in state.notes], ""]
    return "\n".join(out) + "\n"


CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem}"
    "pre{background:#f6f6f6;padding:.6rem;overflow-x:auto}.failed{color:#a00}"
)


def render_html(markdown: str) -> str:
    """A self-contained HTML page (inline CSS, no scripts, no external resources)."""
    body: list[str] = []
    in_code = in_table = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            body.append("</code></pre>" if in_code else "<pre><code>")
            in_code = not in_code
            continue
        if in_code:
            body.append(html.escape(line))
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
                body.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells) + "</tr>")
            else:
                body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 4)
            body.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    if in_code:
        body.append("</code></pre>")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>MLE-Bot report</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(folder: Path, state: BotState, ctx: TaskContext, *, planner: str) -> None:
    """Rewrite both reports atomically."""
    md = render_markdown(state, ctx, planner=planner)
    for name, text in ((REPORT_MD, md), (REPORT_HTML, render_html(md))):
        write_text_atomic(folder / name, text)
