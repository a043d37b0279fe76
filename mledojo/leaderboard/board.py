"""From files to a written board: load the sources, read the spec, build, render."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from mledojo.leaderboard._io import MAX_RESULT_BYTES, LeaderboardError, read_text
from mledojo.leaderboard.episode import load_episodes
from mledojo.leaderboard.render import write_board
from mledojo.leaderboard.stats import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_ELO_SEED,
    Board,
    BoardSpec,
    build_board,
)

SPECS = TypeAdapter(list[BoardSpec])


def load_specs(path: Path) -> list[BoardSpec]:
    """Board specs from the board file (`board.yaml`, `mledojo.leaderboard.boardspec`) or a
    JSON list: `[{"budget_class", "competitions", "seeds"}, ...]`."""
    if path.suffix in (".yaml", ".yml"):
        from mledojo.leaderboard.boardspec import load_board_file

        return load_board_file(path).stats_specs()
    text = read_text(path, max_bytes=MAX_RESULT_BYTES)
    try:
        return SPECS.validate_python(json.loads(text))
    except json.JSONDecodeError as e:
        raise LeaderboardError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from e
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise LeaderboardError(
            f"{path}: field `{loc}`: {first['msg']} (expected a list of "
            '{"budget_class": ..., "competitions": [...], "seeds": [...]})'
        ) from e


def build_from_sources(
    sources: list[Path],
    out_dir: Path,
    *,
    spec_file: Path | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    elo_seed: int = DEFAULT_ELO_SEED,
) -> tuple[list[Path], Board]:
    """Load, build and write the board; returns the files written and the board."""
    episodes = load_episodes(sources)
    if not episodes:
        raise LeaderboardError(
            f"no episodes under {', '.join(map(str, sources))}: submit entries first "
            "(`mledojo leaderboard submit`) or pass --source"
        )
    specs = load_specs(spec_file) if spec_file is not None else None
    board = build_board(episodes, specs, bootstrap=bootstrap, elo_seed=elo_seed)
    return write_board(board, out_dir), board
