"""The agent's `baseline` argument: the baseline agent's script, a user's file, or an error
that says what to give."""

from __future__ import annotations

from pathlib import Path

import pytest

from mledojo.agent import make_agent
from mledojo.errors import MLEDojoError


def test_baseline_names_the_baseline_agents_script_as_a_runnable_file() -> None:
    agent = make_agent("hill-climb", {"baseline": "baseline"})
    source = agent.options["baseline_source"]  # type: ignore[attr-defined]
    assert source.startswith("import json as _json")
    compile(source, "solution.py", "exec")  # runs as `python solution.py`
    assert 'open("task.json"' in source


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.py", None, "neither `baseline`"),
        ("notes.txt", b"x = 1\n", "neither `baseline`"),
        ("big.py", b"#" * 200_001, "at most 200,000"),
        ("latin.py", b"x = '\xe9'\n", "is not UTF-8"),
    ],
)
def test_a_bad_baseline_file_is_refused_with_what_to_do(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MLEDojoError, match=message):
        make_agent("hill-climb", {"baseline": str(path)})
