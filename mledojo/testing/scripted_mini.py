"""A scripted model for mini-swe-agent (its offline path, tests, demos).

Behind the scripted LLM server it answers every Chat Completions turn with one call of
mini-swe-agent's `bash` tool, from a fixed plan: look at the data, write the mean/mode
baseline script, run it, submit. The last command repeats once the plan is used up.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mledojo.testing.replies import RecordedRequest, Reply
from mledojo.testing.scripted_react import BASELINE_SCRIPT

SCRIPTED_MODEL = "scripted-mini"
SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"

PLAN: tuple[str, ...] = (
    'ls "$MLEDOJO_DATA" && head -3 "$MLEDOJO_DATA/sample_submission.csv"',
    f"cat > train.py <<'PYEOF'\n{BASELINE_SCRIPT}PYEOF\necho train.py written",
    "python train.py",
    SUBMIT,
)


class ScriptedMini:
    """The server's script: turn n gets a `bash` tool call of `commands[n]` (the last repeats)."""

    def __init__(self, commands: Sequence[str] = PLAN) -> None:
        self.commands = list(commands)
        self.turn = 0
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            index = min(self.turn, len(self.commands) - 1)
            self.turn += 1
        return Reply.tool_call("bash", {"command": self.commands[index]})
