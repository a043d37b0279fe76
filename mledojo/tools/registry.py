"""The table of trusted tools: name -> function(dict) -> dict (JSON in, JSON out).

Imported relatively so that the same file works as `mledojo.tools.registry` on the host
and as the runner's private package inside the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .profile import profile_dataset

Tool = Callable[[dict[str, Any]], dict[str, Any]]

TOOLS: dict[str, Tool] = {
    "profile_dataset": profile_dataset,
}
