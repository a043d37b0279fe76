"""The baseline agent, 10 s slower: its code cell sleeps first.

The bench tests interrupt a run while an episode is mid-way; on an idle machine a baseline
episode on the small competitions ends in 3-4 s, too soon to be caught reliably.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from agents.baseline.agent import BaselineAgent

SLEEP_S = 10
STARTED_ENV = "MLEDOJO_TEST_STARTED_FILE"  # touched when the first cell is sent: mid-episode


class SlowBaseline(BaselineAgent):
    """`baseline` with a 10 s sleep at the start of each code cell (inside the sandbox)."""

    name: ClassVar[str] = "slow-baseline"

    def code(self, *, simple: bool = False) -> str:
        marker = os.environ.get(STARTED_ENV)
        if marker:
            Path(marker).touch()
        return f"import time\ntime.sleep({SLEEP_S})\n" + super().code(simple=simple)
