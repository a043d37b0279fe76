"""`baseline`: a no-LLM agent for any tabular competition.

One code cell does the work inside the sandbox: read the files, preprocess (categoricals
as pandas categories, missing values left to the model, calendar features from date-like
columns, per-group rolling features when the data is a panel of time series), check on a
holdout (time-ordered when there is a time column), train gradient boosting on everything,
write the submission. Then submit.

Every choice is made from the task's fields (`info["task"]`: prediction kind, targets,
metric name), never from the competition id: one model per target (several targets, or
several 0/1 labels), the three most probable classes for `ranked_labels`, an absolute-error
loss for the metrics that score absolute or relative errors, class weights for a balanced
log loss. The episode's seed seeds the models and the random holdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mledojo.agent import Agent, AgentOutcome

if TYPE_CHECKING:
    from mledojo.env import MLEDojoEnv

_SCRIPT = Path(__file__).with_name("solution.py")


class BaselineAgent(Agent):
    """Gradient boosting with sensible preprocessing; two steps: execute, then submit."""

    name: ClassVar[str] = "baseline"

    def __init__(self) -> None:
        self._task: dict[str, Any] = {}
        self._phase = 0
        self._seed = 0

    def run(self, env: MLEDojoEnv, *, seed: int | None = None) -> AgentOutcome:
        """Play the episode; its seed (0 when none) seeds the cell's models."""
        self._seed = 0 if seed is None else int(seed)
        return super().run(env, seed=seed)

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self._task = dict(info["task"])
        self._phase = 0

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        self._phase += 1
        if self._phase == 1:
            return {"action": "execute_code", "code": self.code()}
        if self._phase == 2 and observation["submission"] != "valid":
            return {"action": "execute_code", "code": self.code(simple=True)}
        return {"action": "submit"}

    def code(self, *, simple: bool = False) -> str:
        """The cell sent to the sandbox: the solution script with the task filled in."""
        task = {**self._task, "simple": simple, "seed": self._seed}
        return f"TASK = {json.dumps(task)!r}\n" + _SCRIPT.read_text(encoding="utf-8")
