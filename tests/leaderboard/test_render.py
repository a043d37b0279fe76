"""README.md and index.html: content, escaping, determinism, self-containedness."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from mledojo.leaderboard.episode import AnytimePoint, BoardEpisode
from mledojo.leaderboard.render import SORT_SCRIPT, render_html, render_markdown, write_board
from mledojo.leaderboard.stats import Board, build_board

Make = Callable[..., BoardEpisode]
HOSTILE = "<script>alert(1)</script> | x ` [l](javascript:alert(1))"


@pytest.fixture
def board(make_episode: Make) -> Board:
    eps = []
    for agent, base in (("alpha", 0.8), ("beta", 0.5), ("gamma", 0.2)):
        for comp in ("titanic", "pump-failure"):
            for seed in (0, 1):
                hr = base + 0.05 * seed
                eps.append(
                    make_episode(
                        agent,
                        comp,
                        seed,
                        hr,
                        medal="gold" if hr > 0.8 else None,
                        above_median=hr > 0.5,
                        leaderboard_kind="reference" if comp == "pump-failure" else "kaggle",
                        caveats=["Approximate: re-split", "Truncated board: top only"]
                        if comp == "titanic"
                        else [],
                        reported_hardware=HOSTILE if agent == "gamma" else "2 cpu, 4 GB",
                        reported_llm_usd=0.1 * seed,
                        anytime=[
                            AnytimePoint(elapsed_s=30, usd=0.05, best_human_rank=hr / 2),
                            AnytimePoint(elapsed_s=90, usd=0.1, best_human_rank=hr),
                        ],
                    )
                )
    return build_board(eps, bootstrap=200)


def test_markdown_lists_agents_in_order_with_flags(board: Board) -> None:
    text = render_markdown(board)
    rows = [line for line in text.splitlines() if re.match(r"^\| [123] \|", line)]
    assert [r.split("|")[2].strip() for r in rows] == ["alpha", "beta", "gamma"]
    assert "0.825 ± 0.025" in rows[0]  # alpha: per-seed means 0.8 and 0.85
    assert "approximate, truncated" in text and "flags: reference" in text
    assert "reference pool: ranked against runs of fixed reference solutions" in text
    assert board.input_sha256 in text


def test_submitted_text_is_inert_in_markdown(board: Board) -> None:
    text = render_markdown(board)
    assert "<script>" not in text and "&lt;script&gt;" in text
    gamma = next(line for line in text.splitlines() if line.startswith("| 3 |"))
    assert gamma.count(" | ") == 14  # the `|` in the hardware text does not add a column
    assert "\\[l\\]" in gamma


def test_submitted_text_is_inert_in_html(board: Board) -> None:
    page = render_html(board)
    assert page.count("<script>") == 1  # ours only
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_html_loads_nothing_and_allows_only_its_own_script(board: Board) -> None:
    page = render_html(board)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    digest = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    assert f"script-src 'sha256-{digest}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1)
    assert page.count("<svg") == 4  # two competitions x (wall time, dollars)


def test_rendering_is_deterministic(board: Board, tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_board(board, tmp_path / "a")]
    second = [p.read_bytes() for p in write_board(board, tmp_path / "b")]
    assert first == second
    assert Board.model_validate_json((tmp_path / "a" / "board.json").read_text()) == board


def test_lower_is_better_scores_sort_best_first(make_episode: Make) -> None:
    eps = [
        make_episode(a, "rmse-comp", 0, hr, metric="rmse", higher_is_better=False)
        for a, hr in (("a", 0.9), ("b", 0.2))
    ]
    page = render_html(build_board(eps, bootstrap=0))
    assert '<th data-type="num" data-best="low">raw score</th>' in page
    assert '<th data-type="num" data-best="low">#</th>' in page
    assert "rmse (lower is better)" in page
