"""Rendering a `Board` as `leaderboard/README.md` and a self-contained `leaderboard/index.html`.

Both are deterministic functions of the board (no clock, no randomness), so a rebuild from
the same submissions gives the same bytes. Every submitted string is escaped; the HTML page
loads nothing (a Content-Security-Policy that allows only its own script, by hash, and
inline styles and SVG), so it opens offline and an injected script would not run.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from mledojo._files import write_text_atomic
from mledojo.leaderboard._format import (
    FLAG_TEXT,
    duration_text,
    h,
    interval_text,
    md,
    mean_se_text,
    pct,
    rate_text,
    score_text,
    usd_text,
)
from mledojo.leaderboard._svg import curves_svg
from mledojo.leaderboard.stats import (
    AgentSummary,
    Board,
    ClassBoard,
    CompetitionBoard,
    CompetitionStat,
)

README_FILE = "README.md"
HTML_FILE = "index.html"
JSON_FILE = "board.json"


def _seeds_text(board: ClassBoard) -> str:
    return ", ".join("none" if s is None else str(s) for s in board.spec.seeds)


def _direction(c: CompetitionBoard) -> str:
    if c.higher_is_better is None:
        return c.metric or "metric unknown"
    return f"{c.metric} ({'higher' if c.higher_is_better else 'lower'} is better)"


def _elo_text(a: AgentSummary) -> str:
    return f"{a.elo.rating:.0f} [{a.elo.low:.0f}, {a.elo.high:.0f}]"


TIER_TEXT = {
    "verified": "Verified: every episode reproduced or live (re-executed by the board)",
    "self-reported": "Self-reported (honour-based): re-graded from the submitted bundle, not "
    "re-executed; ranked apart, never among verified rows",
}
LEVEL_NOTE = (
    "Levels (docs/leaderboard.md): self-reported = the bundle's stored submission grades to the "
    "shown score, nothing more; reproduced = the board re-executed the episode with the "
    "recorded LLM replies replayed (same submission, or private score within the shown "
    "tolerance); live = the board re-ran the agent with its own model keys. Elo is fitted "
    "within a tier. Columns marked (reported) come from the bundle and are not checked."
)


MEDALS_TEXT = {
    "indicative": "medals indicative: the private part is small (under 200 rows), its noise "
    "is wider than the medal bands",
    "uninformative": "medals uninformative: a default model beats the best human here; its "
    "medals are kept out of the medal rates and shown apart",
    "none": "no medals: this competition awards none",
}


def _medals_text(c: CompetitionBoard) -> str:
    """The competition's medal label, empty when its medals are plainly informative."""
    return MEDALS_TEXT.get(c.medals or "informative", "")


def _graded_text(s: CompetitionStat) -> str:
    return f"{s.scored}/{s.expected}" + (f" ({s.suspect} suspect)" if s.suspect else "")


def _apart_text(a: AgentSummary) -> str:
    return "-" if a.uninformative_medal_rate is None else pct(a.uninformative_medal_rate)


def _tiers(board: ClassBoard) -> list[tuple[str, list[AgentSummary]]]:
    """The class's agents by tier (verified first), leaving out an empty tier."""
    out = []
    for tier in ("verified", "self-reported"):
        members = [a for a in board.agents if a.tier == tier]
        if members:
            out.append((tier, members))
    return out


def _levels_text(a: AgentSummary) -> str:
    return a.verification if len(a.levels) <= 1 else f"{a.verification} ({', '.join(a.levels)})"


def _episodes_text(a: AgentSummary) -> str:
    extra = []
    if a.reported_agent_errors:
        extra.append(f"{a.reported_agent_errors} agent error (reported)")
    if a.reported_infra_errors:
        extra.append(f"{a.reported_infra_errors} infra error (reported)")
    if a.suspect:
        extra.append(f"{a.suspect} suspect")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"{a.scored}/{a.expected}{tail}"


# ---------------------------------------------------------------------------- Markdown
OVERALL_COLUMNS = (
    "#",
    "agent",
    "level",
    "mean HumanRank",
    "Elo [95 % CI]",
    "any medal",
    "gold",
    "above median",
    "any medal, uninformative competitions",
    "graded/expected",
    "attempts (reported)",
    "LLM tokens (reported)",
    "LLM $ (reported)",
    "wall time (reported)",
    "hardware (reported)",
)
INTERVAL_NOTE = (
    "[lo, hi] after a raw score or a medal rate: its 95 % interval from a two-level "
    "bootstrap, over the agent's seeds and over each episode's test rows (a score is "
    "measured on a sample of rows, and another sample would move it)."
)
COMPETITION_COLUMNS = (
    "agent",
    "level",
    "HumanRank",
    "raw score",
    "any medal",
    "gold",
    "above median",
    "graded",
)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_class(board: ClassBoard) -> list[str]:
    spec = board.spec
    out = [
        f"## Budget class {md(spec.budget_class)}",
        "",
        f"{len(spec.competitions)} competitions × seeds {_seeds_text(board)}"
        + (" (the union of what was submitted)" if spec.inferred else ""),
        "",
    ]
    for tier, members in _tiers(board):
        out += [
            f"**{TIER_TEXT[tier]}**",
            "",
            _md_row(list(OVERALL_COLUMNS)),
            _md_row(["---"] * len(OVERALL_COLUMNS)),
        ]
        for a in members:
            out.append(
                _md_row(
                    [
                        str(a.rank),
                        md(a.agent),
                        md(_levels_text(a)),
                        mean_se_text(a.human_rank),
                        _elo_text(a),
                        rate_text(a.any_medal_rate, a.any_medal_rate_interval),
                        pct(a.gold_rate),
                        pct(a.above_median_rate),
                        _apart_text(a),
                        _episodes_text(a),
                        str(a.reported_attempts),
                        f"{a.reported_llm_tokens:,}",
                        usd_text(a.reported_llm_usd),
                        duration_text(a.reported_wall_time_s),
                        md(", ".join(a.reported_hardware)),
                    ]
                )
            )
        out.append("")
    out.append("")
    for c in board.competitions:
        flags = f" · flags: {', '.join(c.flags)}" if c.flags else ""
        flags += f" · {_medals_text(c)}" if _medals_text(c) else ""
        out += [
            f"### {md(c.competition)}",
            "",
            f"{md(_direction(c))}{flags} · verified rows first",
            "",
            _md_row(list(COMPETITION_COLUMNS)),
            _md_row(["---"] * len(COMPETITION_COLUMNS)),
        ]
        for s in c.stats:
            out.append(
                _md_row(
                    [
                        md(s.agent),
                        md(s.verification_text),
                        mean_se_text(s.human_rank),
                        score_text(s.score) + interval_text(s.score_interval),
                        rate_text(s.any_medal_rate, s.any_medal_rate_interval),
                        pct(s.gold_rate),
                        pct(s.above_median_rate),
                        _graded_text(s),
                    ]
                )
            )
        out.append("")
    return out


def render_markdown(board: Board) -> str:
    """`leaderboard/README.md`."""
    used = sorted({f for cb in board.classes for c in cb.competitions for f in c.flags})
    out = [
        "# mledojo leaderboard",
        "",
        "Generated by `mledojo leaderboard build`; do not edit (rebuild instead). "
        f"{board.episodes} episodes, input sha256 `{board.input_sha256}`; the same input gives "
        "the same page. The interactive page with the anytime curves is `index.html`; the "
        "numbers as data are `board.json`. How each number is computed: `docs/leaderboard.md`.",
        "",
        "HumanRank is the private-part HumanRank (1 = beats or ties every entry of the "
        "competition's board); a missing, failed or suspect episode counts as 0. Mean ± "
        f"standard error over the seeds. Elo: Bradley-Terry over per-competition wins, "
        f"bootstrap 95 % interval ({board.bootstrap} resamples of the competitions, seed "
        f"{board.elo_seed}). Agents are compared only within a budget class.",
        "",
        INTERVAL_NOTE,
        "",
        LEVEL_NOTE,
        "",
    ]
    if used:
        out += ["Flags:", ""] + [f"- {FLAG_TEXT[f]}" for f in used] + [""]
    for cb in board.classes:
        out += _md_class(cb)
    return "\n".join(out).rstrip() + "\n"


# -------------------------------------------------------------------------------- HTML
SORT_SCRIPT = """
(function () {
  function key(cell, numeric) {
    var v = cell.getAttribute('data-v');
    if (v === null) { v = cell.textContent.trim(); }
    if (numeric) { var n = parseFloat(v); return isNaN(n) ? -Infinity : n; }
    return v.toLowerCase();
  }
  function sortBy(table, col, th) {
    var numeric = th.getAttribute('data-type') === 'num';
    var was = th.getAttribute('aria-sort');
    var desc = was ? was === 'ascending' : numeric && th.getAttribute('data-best') !== 'low';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      if (x < y) { return desc ? 1 : -1; }
      if (x > y) { return desc ? -1 : 1; }
      return 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.removeAttribute('aria-sort');
    });
    th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener('click', function () { sortBy(table, col, th); });
    });
  });
})();
""".strip()

STYLE = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 24px; color: #222;
       max-width: 1240px; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 12px; }
th, td { border: 1px solid #bbb; padding: 3px 4px; text-align: right; white-space: nowrap; }
th { background: #e8eef7; cursor: pointer; user-select: none; white-space: normal;
     min-width: 3em; }
td.wrap { white-space: normal; max-width: 11em; text-align: left; }
th[aria-sort=descending]::after { content: " ▼"; }
th[aria-sort=ascending]::after { content: " ▲"; }
td.name, th.name { text-align: left; }
tbody tr:nth-child(even) { background: #f6f6f6; }
.flag { display: inline-block; background: #fff3cd; border: 1px solid #e0c36c; padding: 0 6px;
        margin-right: 4px; border-radius: 3px; font-size: 12px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
p.note { font-size: 13px; color: #555; max-width: 900px; }
""".strip()


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _th(label: str, numeric: bool, name: bool = False, low_is_best: bool = False) -> str:
    """A sortable header; a numeric column sorts best first on the first click."""
    cls = ' class="name"' if name else ""
    kind = "num" if numeric else "text"
    best = ' data-best="low"' if low_is_best else ""
    return f'<th data-type="{kind}"{best}{cls}>{h(label)}</th>'


def _td(text: str, value: float | str | None = None, name: bool = False, wrap: bool = False) -> str:
    cls = ' class="name"' if name else ' class="wrap"' if wrap else ""
    data = "" if value is None else f' data-v="{h(str(value))}"'
    return f"<td{cls}{data}>{h(text)}</td>"


def _html_overall(members: list[AgentSummary], index: str) -> str:
    numeric = (True, False, False, True, True, True, True, True, True, True, True, True, True, True)
    head = "".join(
        _th(label, num, name=label == "agent", low_is_best=label == "#")
        for label, num in zip(OVERALL_COLUMNS, (*numeric, False), strict=True)
    )
    rows = []
    for a in members:
        cells = [
            _td(str(a.rank), a.rank),
            _td(a.agent, name=True),
            _td(_levels_text(a)),
            _td(mean_se_text(a.human_rank), a.human_rank.mean),
            _td(_elo_text(a), round(a.elo.rating, 6)),
            _td(rate_text(a.any_medal_rate, a.any_medal_rate_interval), a.any_medal_rate),
            _td(pct(a.gold_rate), a.gold_rate),
            _td(pct(a.above_median_rate), a.above_median_rate),
            _td(
                _apart_text(a),
                "" if a.uninformative_medal_rate is None else a.uninformative_medal_rate,
            ),
            _td(_episodes_text(a), a.scored),
            _td(str(a.reported_attempts), a.reported_attempts),
            _td(f"{a.reported_llm_tokens:,}", a.reported_llm_tokens),
            _td(usd_text(a.reported_llm_usd), a.reported_llm_usd),
            _td(duration_text(a.reported_wall_time_s), a.reported_wall_time_s),
            _td(", ".join(a.reported_hardware), wrap=True),
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="sortable overall" id="overall-{index}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _html_competition(c: CompetitionBoard, index: str) -> str:
    spec = c.metric_spec
    lower = spec is not None and spec.better(0.0, 1.0)  # sort the raw score best first
    head = "".join(
        _th(
            lab,
            lab not in ("agent", "level"),
            name=lab == "agent",
            low_is_best=lab == "raw score" and lower,
        )
        for lab in COMPETITION_COLUMNS
    )
    rows = []
    for s in c.stats:
        raw = None if s.score is None else s.score.mean
        cells = [
            _td(s.agent, name=True),
            _td(s.verification_text),
            _td(mean_se_text(s.human_rank), s.human_rank.mean),
            _td(
                score_text(s.score) + interval_text(s.score_interval),
                raw if raw is not None else "",
            ),
            _td(rate_text(s.any_medal_rate, s.any_medal_rate_interval), s.any_medal_rate),
            _td(pct(s.gold_rate), s.gold_rate),
            _td(pct(s.above_median_rate), s.above_median_rate),
            _td(_graded_text(s), s.scored),
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    flags = "".join(f'<span class="flag" title="{h(FLAG_TEXT[f])}">{h(f)}</span>' for f in c.flags)
    if _medals_text(c):
        flags += f'<span class="flag medals">{h(_medals_text(c))}</span>'

    plots = curves_svg(c.time_curves, title=f"{c.competition}: best HumanRank against wall time")
    plots += curves_svg(c.usd_curves, title=f"{c.competition}: best HumanRank against LLM dollars")
    return (
        f'<section class="competition" id="competition-{index}"><h3>{h(c.competition)}</h3>'
        f"<p>{h(_direction(c))} {flags}</p>"
        f'<table class="sortable per-competition"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        + (f'<div class="plots">{plots}</div>' if plots else "")
        + "</section>"
    )


def render_html(board: Board) -> str:
    """`leaderboard/index.html`: one file, no external resource, sortable tables, SVG plots."""
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src '{_script_hash(SORT_SCRIPT)}'; base-uri 'none'; form-action 'none'"
    )
    used = sorted({f for cb in board.classes for c in cb.competitions for f in c.flags})
    body = [
        "<h1>mledojo leaderboard</h1>",
        f'<p class="note">{board.episodes} episodes; input sha256 '
        f"<code>{h(board.input_sha256)}</code>. HumanRank is the private-part HumanRank; a "
        "missing, failed or suspect episode counts as 0; mean ± standard error over seeds. "
        f"Elo: Bradley-Terry over per-competition wins, bootstrap 95 % interval "
        f"({board.bootstrap} resamples, seed {board.elo_seed}). Click a column to sort.</p>",
        f'<p class="note levels">{h(LEVEL_NOTE)}</p>',
        f'<p class="note">{h(INTERVAL_NOTE)}</p>',
    ]
    if used:
        body.append(
            '<ul class="flags">'
            + "".join(f'<li><span class="flag">{h(f)}</span> {h(FLAG_TEXT[f])}</li>' for f in used)
            + "</ul>"
        )
    for i, cb in enumerate(board.classes):
        spec = cb.spec
        body.append(
            f'<section class="budget-class"><h2>Budget class {h(spec.budget_class)}</h2>'
            f"<p>{len(spec.competitions)} competitions × seeds {h(_seeds_text(cb))}"
            + (" (the union of what was submitted)" if spec.inferred else "")
            + "</p>"
        )
        for tier, members in _tiers(cb):
            body.append(f'<h3 class="tier tier-{tier}">{h(TIER_TEXT[tier])}</h3>')
            body.append(_html_overall(members, f"{i}-{tier}"))
        body += [_html_competition(c, f"{i}-{j}") for j, c in enumerate(cb.competitions)]
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mledojo leaderboard</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )


def write_board(board: Board, out_dir: Path) -> list[Path]:
    """Write README.md, index.html and board.json into `out_dir` (atomically, each)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        (README_FILE, render_markdown(board)),
        (HTML_FILE, render_html(board)),
        (JSON_FILE, board.model_dump_json(indent=1) + "\n"),
    ):
        written.append(write_text_atomic(out_dir / name, text))
    return written
