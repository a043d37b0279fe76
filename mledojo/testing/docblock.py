"""A generated block in a doc, between two marker lines, for the scripts that write figures
into the docs (`scripts/split_figures.py`, `scripts/scoring_figures.py`,
`benchmarks/baseline_table.py`): one way to find, replace, write or check it."""

from __future__ import annotations

import sys
from pathlib import Path


def _span(text: str, start: str, end: str, doc: Path) -> tuple[int, int]:
    first, last = text.find(start), text.find(end)
    if first < 0 or last < first:
        raise ValueError(f"{doc}: the markers {start!r} and {end!r} are missing")
    return first, last


def replace_block(text: str, block: str, *, start: str, end: str, doc: Path) -> str:
    """`text` with the marked block (markers included) replaced by `block`."""
    first, last = _span(text, start, end, doc)
    return text[:first] + block + text[last + len(end) :]


def read_block(text: str, *, start: str, end: str, doc: Path) -> list[str]:
    """The lines between the markers (markers excluded), as the doc holds them."""
    first, last = _span(text, start, end, doc)
    return text[first + len(start) : last].strip("\n").split("\n")


def write_or_check(doc: Path, block: str, *, start: str, end: str, write: bool, script: str) -> int:
    """Write `block` into `doc` (`write`), else exit status 1 when the doc's block differs."""
    text = doc.read_text(encoding="utf-8")
    wanted = replace_block(text, block, start=start, end=end, doc=doc)
    if write:
        doc.write_text(wanted, encoding="utf-8")
    elif wanted != text:
        print(f"{doc} is stale: run {script} --write", file=sys.stderr)
        return 1
    return 0
