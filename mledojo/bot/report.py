"""Phase 5: `report.md` and a self-contained `report.html` in the episode folder.

Rewritten (atomically) as each experiment finishes, so a reader can follow a live run, and
once more when the episode has ended, with its outcome (public and private scores, medal).
Everything shown comes from the bot's state: the profile's aggregates, each experiment's
plan, reasoning, code and metrics, the ranking, and how the strategy evolved.

The HTML is the Markdown rendered by a CommonMark parser (markdown-it-py, tables on) with raw
HTML, links and images off: text written by an LLM is hostile input like any other, so it is
escaped, can load nothing and links nowhere. The page's Content-Security-Policy allows no
script and no resource beyond its inline style.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from mledojo._files import write_text_atomic
from mledojo.bot.context import TaskContext
from mledojo.bot.schemas import BotState, EpisodeEnd, ExperimentRecord
from mledojo.competition import MetricSpec

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
MAX_PROBLEM_CHARS = 20_000
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_HEADING = re.compile(r"^(#{1,6})(\s)")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def clip_lines(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a line end (never mid-word or mid-row of a
    table), with a last line saying how much was left out."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = head.rfind("\n")
    head = head[:cut] if cut > 0 else head[: head.rfind(" ") if " " in head else limit]
    return f"{head.rstrip()}\n\n({len(text) - len(head):,} more characters not shown)"


def _nested(markdown: str, below: int = 2) -> str:
    """Markdown embedded under a level-`below` heading: its headings demoted to stay below it
    (code blocks untouched)."""
    out, in_code = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            m = _HEADING.match(line)
            if m:
                level = min(len(m.group(1)) + below, 6)
                line = "#" * level + line[len(m.group(1)) :]
        out.append(line)
    return "\n".join(out)


def _number(value: float | None, digits: int = 5) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _outcome_lines(end: EpisodeEnd | None, metric: str) -> list[str]:
    """The Outcome section: how the episode ended, graded on the private part or why not."""
    if end is None:
        return [
            "Not ended yet: this section gets the scores when the episode ends (if the bot "
            "stopped first, the episode's `result.json` has them)."
        ]
    lines = [f"- status: **{end.status}**" + (f" ({end.end_reason})" if end.end_reason else "")]
    if end.graded:
        medal = end.medal if end.medal not in (None, "none") else "no medal"
        lines += [
            f"- private score ({metric}, the hidden part of the test set): "
            f"**{_number(end.private_score, 6)}**",
            f"- HumanRank: {_number(end.private_human_rank, 4)}; medal: **{medal}**"
            + (
                ""
                if end.above_median is None
                else f"; {'above' if end.above_median else 'not above'} the median"
            ),
        ]
    else:
        lines.append(f"- not graded: {end.not_graded_reason or 'no valid submission'}")
    lines.append(
        f"- best public score ({metric}, the part shown during the episode): "
        f"{_number(end.best_public_score, 6)} (HumanRank {_number(end.best_public_human_rank, 4)})"
    )
    return lines


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
        "## Outcome",
        "",
        *_outcome_lines(state.outcome, ctx.metric),
        "",
        "## Problem",
        "",
        _nested(clip_lines(state.problem, MAX_PROBLEM_CHARS)) or "(none given)",
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
        out += ["", _nested(it.design.strategy, below=3), ""]
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
    "color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
    "text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:.6rem;overflow-x:auto}"
    "code{background:#f6f6f6}"
)


def _parser() -> MarkdownIt:
    """CommonMark with tables; raw HTML, links and images off (see the module doc)."""
    md = MarkdownIt("js-default", {"html": False, "linkify": False})
    md.disable(["image", "link", "autolink"])
    return md


def render_html(markdown: str) -> str:
    """A self-contained HTML page of the report (inline CSS, no script, nothing to load)."""
    body = str(_parser().render(markdown))
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">'
        f"<title>MLE-Bot report</title><style>{CSS}</style></head><body>\n"
        + body
        + "</body></html>\n"
    )


def write_report(folder: Path, state: BotState, ctx: TaskContext, *, planner: str) -> None:
    """Rewrite both reports atomically."""
    md = render_markdown(state, ctx, planner=planner)
    for name, text in ((REPORT_MD, md), (REPORT_HTML, render_html(md))):
        write_text_atomic(folder / name, text)
