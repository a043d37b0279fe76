"""Number and text formatting shared by the Markdown and HTML renderers."""

from __future__ import annotations

import html
import re

from mledojo.leaderboard.stats import MeanSE

FLAG_TEXT = {
    "approximate": "approximate: a Kaggle board, but our score is on mledojo's re-split of the "
    "labelled training data, so the place is an estimate",
    "truncated": "truncated: the human board lists only the top of the field, so HumanRank is "
    "relative to that top",
    "reference": "reference pool: ranked against runs of fixed reference solutions, not humans",
    "suspect": "suspect: an episode's score is past the competition's ceiling, or its "
    "submission copies all or part of the answers; it counts as HumanRank 0 and no medal",
}


def mean_se_text(v: MeanSE | None, digits: int = 3) -> str:
    if v is None:
        return "-"
    if v.se is None:
        return f"{v.mean:.{digits}f}"
    return f"{v.mean:.{digits}f} ± {v.se:.{digits}f}"


def score_text(v: MeanSE | None) -> str:
    if v is None:
        return "-"
    return f"{v.mean:.5g}" if v.se is None else f"{v.mean:.5g} ± {v.se:.2g}"


def pct(rate: float) -> str:
    return f"{100 * rate:.0f} %"


def interval_text(interval: tuple[float, float] | None) -> str:
    """` [lo, hi]` (a 95 % interval after a value), or nothing."""
    return "" if interval is None else f" [{interval[0]:.5g}, {interval[1]:.5g}]"


def rate_text(rate: float, interval: tuple[float, float] | None) -> str:
    """`40 % [10-70]`: a rate with its 95 % interval (in percent)."""
    if interval is None:
        return pct(rate)
    return f"{pct(rate)} [{100 * interval[0]:.0f}-{100 * interval[1]:.0f}]"


def usd_text(usd: float) -> str:
    return f"${usd:,.2f}"


def duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: str) -> str:
    """Submitted text made inert in Markdown: one line, HTML escaped, specials backslashed."""
    one_line = " ".join(text.split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=True))


def h(text: str) -> str:
    """Text made inert in HTML (element content and quoted attribute values)."""
    return html.escape(text, quote=True)
