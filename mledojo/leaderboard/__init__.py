"""Our leaderboard: episodes in (`BoardEpisode`), statistics, rendering, compare, export.

Not to be confused with `mledojo.grading.boards`: the Kaggle and reference boards a
score is ranked against ("boards"). Importing this package is cheap (the CLI attaches its
commands at start-up); the names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LeaderboardError": "mledojo.leaderboard._io",
    "AnytimePoint": "mledojo.leaderboard.episode",
    "BoardEpisode": "mledojo.leaderboard.episode",
    "load_episode": "mledojo.leaderboard.episode",
    "load_episodes": "mledojo.leaderboard.episode",
    "Board": "mledojo.leaderboard.stats",
    "BoardSpec": "mledojo.leaderboard.stats",
    "build_board": "mledojo.leaderboard.stats",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
