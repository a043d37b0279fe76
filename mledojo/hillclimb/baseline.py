"""The baseline agent's solution as a standalone script: the default brownfield starting point."""

from __future__ import annotations

from mledojo.agent import builtin_agents_root

# The baseline agent prepends its task as a JSON literal; as a script it reads task.json,
# which the hill-climbing loop writes into the workspace.
_HEADER = """\
import json as _json

_task = _json.load(open("task.json", encoding="utf-8"))
_task.setdefault("simple", False)
_task.setdefault("seed", 0)
TASK = _json.dumps(_task)
"""


def baseline_agent_script() -> str:
    """The baseline agent's `solution.py`, made to run as `python solution.py`."""
    source = builtin_agents_root() / "baseline" / "solution.py"
    return _HEADER + source.read_text(encoding="utf-8")
