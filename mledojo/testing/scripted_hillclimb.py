"""A scripted critic and actor for the hill-climbing agent (its offline path, tests, demos).

Behind the scripted LLM server, the critic's turns and the actor's turns are answered from two
lists in order (the last answer repeats); they are told apart by the model name. The default
greenfield script drafts a constant model (kept), tries features from a module it never wrote
(the smoke test fails: reverted), then gradient boosting (the baseline agent's solution: kept
when it scores better), then stops.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from mledojo.hillclimb.baseline import baseline_agent_script
from mledojo.testing.replies import RecordedRequest, Reply

CRITIC_MODEL = "scripted-critic"
ACTOR_MODEL = "scripted-actor"

CONSTANT_MODEL = """\
\"\"\"A constant model: per submission column, the training target's mean or mode.\"\"\"
import pandas as pd


def fit(train, columns):
    values = {}
    for column in columns:
        if column in train.columns and train[column].notna().any():
            y = train[column].dropna()
            if pd.api.types.is_numeric_dtype(y) and y.nunique() > 20:
                values[column] = float(y.mean())
            else:
                value = y.mode().iloc[0]
                values[column] = value.item() if hasattr(value, "item") else value
    return values
"""

CONSTANT_TRAIN = """\
import json
import os

import pandas as pd

import model

data = os.environ.get("MLEDOJO_DATA", "/data")
rows = 300 if os.environ.get("MLEDOJO_SMOKE") == "1" else None
sample = pd.read_csv(os.path.join(data, "sample_submission.csv"), nrows=1)
train_path = os.path.join(data, "train.csv")
train = pd.read_csv(train_path, nrows=rows) if os.path.exists(train_path) else pd.DataFrame()
with open("model.json", "w") as f:
    json.dump(model.fit(train, list(sample.columns[1:])), f)
print("trained on", len(train), "rows")
"""

CONSTANT_PREDICT = """\
import json
import os

import pandas as pd

data = os.environ.get("MLEDOJO_DATA", "/data")
sample = pd.read_csv(os.path.join(data, "sample_submission.csv"))
with open("model.json") as f:
    values = json.load(f)
for column, value in values.items():
    sample[column] = value
sample.to_csv("submission.csv", index=False)
print("submission written:", sample.shape)
"""

BROKEN_TRAIN = """\
from features import add_features  # never written: the smoke test fails here

raise SystemExit(add_features)
"""

BOOSTED_PREDICT = """\
print("train.py wrote submission.csv (gradient boosting predicts as it trains)")
"""


def proposal(idea: str, *, stop: bool = False) -> dict[str, Any]:
    """A critic's answer."""
    return {"idea": idea, "rationale": "scripted", "stop": stop}


def implementation(
    summary: str, files: dict[str, str], commands: Sequence[str] = ()
) -> dict[str, Any]:
    """An actor's answer."""
    return {
        "summary": summary,
        "files": [{"path": p, "content": c} for p, c in files.items()],
        "commands": list(commands),
    }


def greenfield_script() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The default offline conversation (critic answers, actor answers) from scratch."""
    critic = [
        proposal("Draft a constant model: the target's mean or mode."),
        proposal("Add engineered features from a features module."),
        proposal("Gradient boosting with sensible preprocessing."),
        proposal("Nothing more to try offline.", stop=True),
    ]
    actor = [
        implementation(
            "a constant model",
            {
                "model.py": CONSTANT_MODEL,
                "train.py": CONSTANT_TRAIN,
                "predict.py": CONSTANT_PREDICT,
            },
        ),
        implementation("features (the module is missing)", {"train.py": BROKEN_TRAIN}),
        implementation(
            "gradient boosting",
            {"train.py": baseline_agent_script(), "predict.py": BOOSTED_PREDICT},
        ),
    ]
    return critic, actor


def brownfield_script() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The default offline conversation when improving a given solution.py."""
    critic = [
        proposal("Add engineered features from a features module."),
        proposal("Nothing more to try offline.", stop=True),
    ]
    actor = [implementation("features (the module is missing)", {"solution.py": BROKEN_TRAIN})]
    return critic, actor


class ScriptedHillClimb:
    """The server's script: critic turns and actor turns from their lists, in order."""

    def __init__(
        self,
        critic: Sequence[dict[str, Any] | Reply],
        actor: Sequence[dict[str, Any] | Reply],
        *,
        critic_model: str = CRITIC_MODEL,
    ) -> None:
        self.critic = list(critic)
        self.actor = list(actor)
        self.critic_model = critic_model
        self.turns = {"critic": 0, "actor": 0}
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        role = "critic" if body.get("model") == self.critic_model else "actor"
        answers = self.critic if role == "critic" else self.actor
        with self._lock:
            index = min(self.turns[role], len(answers) - 1)
            self.turns[role] += 1
        answer = answers[index]
        return answer if isinstance(answer, Reply) else Reply.structured(answer)
