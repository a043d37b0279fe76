"""A scripted research model for the ReAct agent (its offline path, tests, demos).

Behind the scripted LLM server it answers the research model's turns with a fixed plan (look
at the data, ask the assistant to write a baseline script, read it, run it, give the final
answer) and the assistant's turns with the file report or the baseline script. The research
and assistant requests are told apart by the model name in the request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from mledojo.testing.replies import RecordedRequest, Reply

RESEARCH_MODEL = "scripted-researcher"
ASSISTANT_MODEL = "scripted-assistant"

BASELINE_SCRIPT = """\
import os

import pandas as pd

data = os.environ.get("MLEDOJO_DATA", "/data")
sample = pd.read_csv(os.path.join(data, "sample_submission.csv"))
train_path = os.path.join(data, "train.csv")
train = pd.read_csv(train_path) if os.path.exists(train_path) else pd.DataFrame()
for column in sample.columns[1:]:
    if column in train.columns and train[column].notna().any():
        y = train[column].dropna()
        numeric = pd.api.types.is_numeric_dtype(y)
        if numeric and y.nunique() > 20:
            sample[column] = float(y.mean())
        else:
            sample[column] = y.mode().iloc[0]
sample.to_csv("submission.csv", index=False)
print("baseline submission written:", sample.shape)
"""


def react_reply(action: str, action_input: dict[str, Any], thought: str = "Next step.") -> str:
    """A well-formed research reply for `action`."""
    return (
        "Reflection: The last observation is noted.\n"
        "Research Plan and Status: 1. look at the data 2. write a baseline 3. run it\n"
        "Fact Check: nothing is claimed yet beyond the observations.\n"
        f"Thought: {thought}\n"
        f"Action: {action}\n"
        f"Action Input: {json.dumps(action_input)}\n"
    )


PLAN: tuple[str, ...] = (
    react_reply("List Files", {"dir_path": "/data"}, "See the public files."),
    react_reply(
        "Understand File",
        {
            "file_name": "/data/sample_submission.csv",
            "things_to_look_for": "the columns a submission needs",
        },
        "Learn the submission's shape.",
    ),
    react_reply(
        "Edit Script (AI)",
        {
            "script_name": "train.py",
            "edit_instruction": "Write a baseline that fills the sample submission from train.",
            "save_name": "train.py",
        },
        "A first baseline.",
    ),
    react_reply(
        "Inspect Script Lines",
        {"script_name": "train.py", "start_line_number": 1, "end_line_number": 20},
        "Check the script.",
    ),
    react_reply("Execute Script", {"script_name": "train.py"}, "Run the baseline."),
    react_reply("Final Answer", {"final_answer": "A baseline from the training targets."}),
)


class ScriptedResearcher:
    """The server's script: research turns from `plan` in order (the last one repeats), the
    assistant's turns answered (an edit gets `script`); `assistant_model` names its model."""

    def __init__(
        self,
        plan: Sequence[str] = PLAN,
        *,
        script: str = BASELINE_SCRIPT,
        assistant_model: str = ASSISTANT_MODEL,
    ) -> None:
        self.plan = list(plan)
        self.script = script
        self.assistant_model = assistant_model
        self.turn = 0
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("model") == self.assistant_model:
            text = json.dumps(body.get("messages", ""))
            if "Edit it by this instruction" in text:
                return Reply.say(f"Here it is.\n```python\n{self.script}```\n")
            return Reply.say("The file is a CSV: an id column, then the target columns.")
        with self._lock:
            index = min(self.turn, len(self.plan) - 1)
            self.turn += 1
        return Reply.say(self.plan[index])
