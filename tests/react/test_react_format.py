"""The research reply format and the path checks: what the ReAct agent accepts and refuses."""

from __future__ import annotations

import pytest

from mledojo.react.actions import PathRefused, check_path
from mledojo.react.format import (
    MAX_REPLY_CHARS,
    EditScript,
    FormatError,
    InspectScriptLines,
    parse_reply,
)
from mledojo.testing.scripted_react import PLAN, react_reply


def test_every_scripted_reply_parses() -> None:
    actions = [parse_reply(reply).action for reply in PLAN]
    assert actions == [
        "List Files",
        "Understand File",
        "Edit Script (AI)",
        "Inspect Script Lines",
        "Execute Script",
        "Final Answer",
    ]
    step = parse_reply(PLAN[3])
    assert step.action_input == InspectScriptLines(
        script_name="train.py", start_line_number=1, end_line_number=20
    )
    assert step.thought == "Check the script."


def test_a_fenced_action_input_is_read() -> None:
    reply = react_reply("Execute Script", {"script_name": "a.py"}).replace(
        'Action Input: {"script_name": "a.py"}',
        'Action Input: ```json\n{"script_name": "a.py"}\n```',
    )
    assert parse_reply(reply).action == "Execute Script"


GOOD = react_reply(
    "Edit Script (AI)", {"script_name": "a.py", "edit_instruction": "x", "save_name": "b.py"}
)


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (GOOD.replace("Fact Check:", "Facts:"), "missing Fact Check"),
        (GOOD + "Thought: again\n", "repeated Thought"),
        (
            GOOD.replace("Reflection:", "Thought0:").replace("Thought:", "Reflection:"),
            "missing Thought",
        ),
        (GOOD.replace("Action: Edit Script (AI)", "Action: Run Shell"), "Unknown action"),
        (GOOD.replace('{"script_name"', "{script_name"), "not valid JSON"),
        (GOOD.replace('"save_name": "b.py"', '"save_name": "b.py", "mode": "x"'), "mode"),
        (GOOD.replace(', "save_name": "b.py"', ""), "save_name"),
        (react_reply("List Files", ["."]), "JSON object"),  # type: ignore[arg-type]
        ("I think we should train a model.", "missing Reflection"),
        (GOOD + "x" * MAX_REPLY_CHARS, "at most"),
    ],
)
def test_a_broken_reply_is_refused_with_a_clear_message(reply: str, says: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_reply(reply)
    assert says in str(caught.value)


def test_an_edit_input_holds_its_three_fields() -> None:
    assert parse_reply(GOOD).action_input == EditScript(
        script_name="a.py", edit_instruction="x", save_name="b.py"
    )


@pytest.mark.parametrize(
    ("path", "write"),
    [
        ("/etc/passwd", False),
        ("../../etc/shadow", False),
        ("a/../../b", True),
        ("/data/train.csv", True),  # /data is read-only
        ("/workspace/../root/.ssh", False),
        ("", False),
        ("a\x00b", False),
        ("/database/x", False),  # only /data itself, not a name starting with it
    ],
)
def test_a_path_outside_the_workspace_is_refused(path: str, write: bool) -> None:
    with pytest.raises(PathRefused):
        check_path(path, write=write)


def test_workspace_and_data_paths_pass() -> None:
    assert check_path("train.py", write=True) == "train.py"
    assert check_path("./models/m.py", write=True) == "models/m.py"
    assert check_path("/data/train.csv", write=False) == "/data/train.csv"
    assert check_path("/data", write=False) == "/data"
