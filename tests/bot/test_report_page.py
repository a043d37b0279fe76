"""The MLE-Bot's HTML report as a reader gets it: Markdown rendered, tables whole, the outcome
stated, hostile text inert. Checked on the written file with a real HTML parser, and on the
DOM headless Chromium builds from it (Debian's `chromium`; skipped, loudly, without it)."""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mledojo.bot.report import write_report
from mledojo.bot.rules import rules_design
from mledojo.bot.schemas import BotState, EpisodeEnd, IterationRecord

from .test_rules_and_report import PROFILE, panel, record

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = ROOT / "competitions" / "pump-failure-v2" / "description.md"  # 4.6 kB, a table
CHROMIUM = Path(os.environ.get("MLEDOJO_CHROMIUM", "/usr/bin/chromium"))
HOSTILE = (
    "**Boost** it. <img src=x onerror=alert(1)> <script>alert(2)</script> "
    "[click](javascript:alert(3)) ![pixel](https://tracker.invalid/p.png)"
)
VOID = {"meta", "br", "hr", "img", "input", "link"}


class Page(HTMLParser):
    """The parts of a page the checks read: elements, tables, and text by enclosing tag."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[list[list[str]]] = []
        self.text_in: dict[str, list[str]] = {}
        self._open: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in VOID:
            return
        self._open.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        if tag in self._open:
            while self._open and self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for tag in {*self._open, "*"}:
            self.text_in.setdefault(tag, []).append(data)

    def text(self, tag: str = "*") -> str:
        return "".join(self.text_in.get(tag, []))


def _expected_columns() -> list[list[str]]:
    """The description's own column table, cell by cell (backticks are Markdown code)."""
    rows = [
        [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]
        for line in DESCRIPTION.read_text(encoding="utf-8").splitlines()
        if line.startswith("|") and not set(line) <= set("|-: ")
    ]
    assert rows[0] == ["column", "meaning"] and len(rows) > 10
    return rows


def _write(folder: Path) -> Path:
    ctx = panel()
    plans = rules_design(ctx, [], 3)  # the rules' design, with an LLM's hostile strategy text
    state = BotState(
        key="k",
        model="openai/gpt-5-mini",
        problem=DESCRIPTION.read_text(encoding="utf-8"),
        profile=PROFILE,
        iterations=[
            IterationRecord(iteration=1, design=plans.model_copy(update={"strategy": HOSTILE}))
        ],
        experiments=[record("good", 0.9), record("bad", None)],
        best="good",
        outcome=EpisodeEnd(
            status="completed",
            end_reason="the agent submitted",
            best_public_score=0.80125,
            best_public_human_rank=0.61,
            graded=True,
            private_score=0.812345,
            private_human_rank=0.915,
            medal="gold",
            above_median=True,
        ),
    )
    write_report(folder, state, ctx, planner="openai/gpt-5-mini")
    return folder / "report.html"


def _check(page: Page) -> None:
    # Markdown is rendered: emphasis, inline code and tables are elements, not asterisks.
    assert "Task." in page.text("strong"), page.text("strong")[:500]
    assert "failure_24h" in page.text("code")
    assert "**" not in page.text("p") + page.text("li") + page.text("td")
    # The column table is whole: every row, every cell, to its last word.
    columns = [t for t in page.tables if t and t[0] == ["column", "meaning"]]
    assert len(columns) == 1, [t[0] for t in page.tables]
    assert columns[0] == _expected_columns()
    # The outcome is stated: private and public scores, HumanRank and the medal.
    outcome = page.text("body")
    assert "private score" in outcome and "0.812345" in outcome
    assert "gold" in page.text("strong") and "0.915" in outcome
    assert "best public score" in outcome and "0.80125" in outcome
    # Text an LLM wrote is shown, inert: nothing loads, runs or links anywhere.
    assert "<img src=x onerror=alert(1)>" in outcome and "Boost" in page.text("strong")
    assert not [t for t, _ in page.tags if t in ("img", "script", "a", "iframe", "link")]
    csp = [a.get("content") or "" for t, a in page.tags if t == "meta" and "http-equiv" in a]
    assert csp and "default-src 'none'" in csp[0]


def test_report_html_renders_markdown_whole_tables_and_the_outcome(tmp_path: Path) -> None:
    page = _write(tmp_path)
    _check(Page(page.read_text(encoding="utf-8")))
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert md.index("## Outcome") < md.index("## Problem")
    last = _expected_columns()[-1]
    assert re.search(rf"\| `{last[0]}` \| {re.escape(last[1])} \|", md)


@pytest.mark.slow
def test_report_page_in_chromium(tmp_path: Path) -> None:
    """The same checks on the DOM a real browser builds (its parser, its CSP)."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing: the report page was NOT checked in a browser"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    page = _write(tmp_path)
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=2000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    _check(Page(proc.stdout))
