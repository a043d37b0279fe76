"""`Spend`: what an episode has used of its budget, kept apart from the episode itself.

Each episode has its own, except a tree of `budget="shared"` forks (`MLEDojoEnv.fork`): all
its episodes hold their root's one `Spend`, so every step, tool call, public grade, model
call and second of any branch draws on one budget. A `budget="own"` fork gets a copy.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mledojo.artifacts import LLMUsage

if TYPE_CHECKING:
    from mledojo.episode import Episode


@dataclass
class Spend:
    """Steps, tool calls, public grades, model usage and the start time of one budget.

    `steps` counts every `env.step` (code steps are `steps - tool_calls`). `branches` are
    the shared forks drawing on this budget: their root grades the best of them at its end.
    Branches may step from several threads, so counts change only under `lock`. A plain
    record: the episode updates it in place (`Episode._spend`), so a step makes no call
    into this module (`benchmarks/route_count.py` counts each one as a climb).
    """

    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    tool_calls: int = 0
    public_grades: int = 0
    llm: LLMUsage = field(default_factory=LLMUsage)
    branches: list[Episode] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def own_copy(self) -> Spend:
        """A copy for a `budget="own"` fork: the same use so far, counted apart from here on."""
        with self.lock:
            return Spend(
                started=self.started,
                steps=self.steps,
                tool_calls=self.tool_calls,
                public_grades=self.public_grades,
                llm=self.llm,
            )
