"""A scripted model for the AIDE agent (its offline path, tests, demos).

AIDE asks for two things: a plan followed by one fenced Python block (its draft, improve and
debug prompts), and a `submit_review` function call judging a script's output (its feedback
step). Behind the scripted LLM server this script answers both as a competent model would:
drafts come from `drafts` in order (the last one repeats), an improve or a debug prompt gets
`improved`; a review reads the execution output quoted in the prompt: a traceback is a bug,
else the `Validation metric` line the scripts print is the metric.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from typing import Any

from mledojo.testing.replies import RecordedRequest, Reply

REVIEW_TOOL = "submit_review"
METRIC_LINE = re.compile(r"Validation metric \((lower|higher) is better\): ([-+0-9.eE]+|nan)")

# The scripts read AIDE's `./input` and write `./working/submission.csv`, as its prompts ask;
# on any table with an id column and target columns they fill the sample submission from the
# training targets and print a hold-out metric of that predictor.
_SCRIPT = """\
import os

import numpy as np
import pandas as pd

sample = pd.read_csv("./input/sample_submission.csv")
train = pd.read_csv("./input/train.csv") if os.path.exists("./input/train.csv") else None
targets = [c for c in sample.columns[1:] if train is not None and c in train.columns]
holdout = train.sample(frac=0.2, random_state=0) if targets else None
metric, lower = 0.0, False
for column in targets:
    y = train[column].dropna()
    if y.empty:
        continue
    fit = y.drop(index=holdout.index, errors="ignore")
    fit = fit if not fit.empty else y
    truth = holdout[column].dropna()
    if pd.api.types.is_numeric_dtype(y) and y.nunique() > 20:
        value = float(fit.{center}())
        if column == targets[0] and not truth.empty:
            metric, lower = float(np.sqrt(((truth - value) ** 2).mean())), True
    else:
        value = fit.mode().iloc[0]
        if column == targets[0] and not truth.empty:
            metric = float((truth == value).mean())
    sample[column] = value
os.makedirs("./working", exist_ok=True)
sample.to_csv("./working/submission.csv", index=False)
side = "lower" if lower else "higher"
print(f"Validation metric ({{side}} is better): {{metric:.6f}}")
"""

DRAFT_SCRIPT = _SCRIPT.format(center="mean")
IMPROVED_SCRIPT = _SCRIPT.format(center="median")
BUGGY_SCRIPT = 'import pandas as pd\n\ntrain = pd.read_csv("./input/no-such-file.csv")\n'


def plan_reply(plan: str, code: str) -> str:
    """A well-formed AIDE answer: a short plan, then one fenced Python block."""
    return f"{plan}\n\n```python\n{code}```\n"


class ScriptedAide:
    """The server's script for AIDE (see the module docstring); thread-safe."""

    def __init__(
        self, drafts: Sequence[str] = (DRAFT_SCRIPT,), *, improved: str = IMPROVED_SCRIPT
    ) -> None:
        self.drafts = list(drafts)
        self.improved = improved
        self.turns: dict[str, int] = {"draft": 0, "improve": 0, "debug": 0, "review": 0}
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        text = _prompt_text(body)
        if _asks_review(body):
            self._count("review")
            return Reply.tool_call(REVIEW_TOOL, review_of(text))
        if "# Previous (buggy) implementation" in text:
            self._count("debug")
            return Reply.say(plan_reply("Read the right file and keep the rest.", self.improved))
        if "# Previous solution" in text:
            self._count("improve")
            plan = "Use the median instead of the mean: it is robust to outliers."
            return Reply.say(plan_reply(plan, self.improved))
        index = min(self._count("draft"), len(self.drafts) - 1)
        plan = "Predict every row from the training targets' mode or mean, then check it."
        return Reply.say(plan_reply(plan, self.drafts[index]))

    def _count(self, kind: str) -> int:
        with self._lock:
            self.turns[kind] += 1
            return self.turns[kind] - 1


def review_of(prompt: str) -> dict[str, Any]:
    """The `submit_review` arguments for the execution output quoted in `prompt`."""
    output = prompt.split("# Execution output", 1)[-1]
    found = METRIC_LINE.search(output)
    if "Traceback (most recent call last)" in output or found is None:
        summary = "The script failed before printing its metric; fix the error shown."
        return {"is_bug": True, "summary": summary, "metric": None, "lower_is_better": False}
    value = float(found.group(2))
    return {
        "is_bug": False,
        "summary": f"The script ran and printed a validation metric of {value}.",
        "metric": value,
        "lower_is_better": found.group(1) == "lower",
    }


def _asks_review(body: dict[str, Any]) -> bool:
    tools = body.get("tools")
    return isinstance(tools, list) and REVIEW_TOOL in json.dumps(tools)


def _prompt_text(body: dict[str, Any]) -> str:
    """The text of the request's messages (chat) or input items (responses)."""
    parts: list[str] = []
    for message in body.get("messages") or body.get("input") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return "\n".join(parts)
