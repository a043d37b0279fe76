"""Anytime curves as inline SVG (no script, no external resource)."""

from __future__ import annotations

from collections.abc import Sequence

from mledojo.leaderboard._format import h
from mledojo.leaderboard.stats import AnytimeCurve

WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 150, 16, 36
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _fmt_x(x: float, axis: str) -> str:
    if axis == "usd":
        return f"${x:.2f}" if x < 100 else f"${x:.0f}"
    return f"{x:.0f}s" if x < 120 else f"{x / 60:.0f}m"


def curves_svg(curves: Sequence[AnytimeCurve], *, title: str) -> str:
    """A step plot of best HumanRank (0-1) against the curves' x axis, one colour per agent."""
    if not curves:
        return ""
    axis = curves[0].axis
    x_max = max((p.x for c in curves for p in c.points), default=1.0) or 1.0
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + pw * x / x_max

    def sy(y: float) -> float:
        return TOP + ph * (1 - y)

    parts = [
        f'<svg class="curve" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{h(title)}">',
        f"<title>{h(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>',
    ]
    for y in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11">'
            f"{y:g}</text>"
        )
    for frac in (0.0, 0.5, 1.0):
        x = x_max * frac
        parts.append(
            f'<text x="{sx(x):.1f}" y="{TOP + ph + 16}" text-anchor="middle" font-size="11">'
            f"{h(_fmt_x(x, axis))}</text>"
        )
    label = "reported wall time" if axis == "wall_time_s" else "reported LLM dollars"
    part = curves[0].part
    parts.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="12">'
        f"{label} → (y: best {part} HumanRank, mean over seeds)</text>"
    )
    for i, c in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        pts: list[str] = []
        prev_y = 0.0
        for p in c.points:
            pts.append(f"{sx(p.x):.1f},{sy(prev_y):.1f}")
            pts.append(f"{sx(p.x):.1f},{sy(p.y):.1f}")
            prev_y = p.y
        pts.append(f"{sx(x_max):.1f},{sy(prev_y):.1f}")
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(pts)}">'
            f"<title>{h(c.agent)}</title></polyline>"
        )
        ly = TOP + 14 + 16 * i
        name = c.agent if len(c.agent) <= 18 else c.agent[:17] + "…"
        parts.append(
            f'<line x1="{LEFT + pw + 10}" x2="{LEFT + pw + 26}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{colour}" stroke-width="3"/>'
            f'<text x="{LEFT + pw + 30}" y="{ly}" font-size="11">{h(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
