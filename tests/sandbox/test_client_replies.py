"""Runner replies of the wrong shape are sandbox faults the episode counts, not host crashes."""

from __future__ import annotations

from typing import Any

import pytest

from mledojo.sandbox.client import _digests, _exec_result, _tool_result


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 5},
        {"status": "ok", "stdout": {"a": 1}},
        {"status": "ok", "duration_s": "soon"},
        {},
    ],
)
def test_a_malformed_exec_reply_is_a_protocol_error(reply: dict[str, Any]) -> None:
    result = _exec_result(reply)
    assert result.status == "sandbox_error" and result.error_type == "ProtocolError"


@pytest.mark.parametrize(
    "reply",
    [{"ok": True, "output": [1, 2]}, {"ok": True, "error": 3}, {"ok": True, "duration_s": "x"}],
)
def test_a_malformed_tool_reply_is_a_failed_call(reply: dict[str, Any]) -> None:
    result = _tool_result(reply, 0.1)
    assert not result.ok and result.error == "the runner sent an unexpected reply"


def test_only_well_formed_workspace_digests_reach_the_ledger() -> None:
    good = "a" * 64
    written = {
        "/workspace/tools/x.parquet": good,
        "/data/train.csv": good,  # not a tool output
        "/workspace/tools/y.meta.json": "not-a-digest",
        "/workspace/" + "z" * 5000: good,
        7: good,
    }
    assert _digests(written) == {"/workspace/tools/x.parquet": good}
    assert _digests(["/workspace/tools/x.parquet"]) == {}
