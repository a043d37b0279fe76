"""`hill-climb`: the hill-climbing actor/critic (mle-beast style); see docs/agents/hill-climb.md.

A critic model proposes one change at a time, an actor model writes it; the loop smoke-tests
it, trains, scores it, and keeps an improvement as a git commit in the workspace (git runs in
the sandbox) or reverts it. Greenfield writes model.py / train.py / predict.py; brownfield
improves a given script (`baseline=baseline`: the baseline agent's, or `baseline=file.py`).
`model=scripted` (the default) is the offline path: a scripted conversation served by the
scripted LLM server on loopback, through the real `openai` SDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from mledojo.agent import Agent, AgentOutcome
from mledojo.env import MLEDojoEnv
from mledojo.errors import MLEDojoError
from mledojo.hillclimb.baseline import baseline_agent_script
from mledojo.hillclimb.loop import HillClimbRun
from mledojo.hillclimb.models import MAX_FILE_CHARS, HillClimbConfig

SCRIPTED = "scripted"
BASELINE_AGENT = "baseline"


def read_baseline(baseline: str | None) -> str | None:
    """The brownfield script's text: the baseline agent's, a user's file, or None."""
    if baseline is None:
        return None
    if baseline == BASELINE_AGENT:
        return baseline_agent_script()
    path = Path(baseline).expanduser()
    if path.suffix != ".py" or not path.is_file():
        raise MLEDojoError(
            f"hill-climb: baseline={baseline!r} is neither `baseline` (the baseline agent's "
            "script) nor an existing .py file; give one of them"
        )
    data = path.read_bytes()
    if len(data) > MAX_FILE_CHARS:
        raise MLEDojoError(
            f"hill-climb: {path} has {len(data):,} bytes; a baseline script may have at most "
            f"{MAX_FILE_CHARS:,}"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MLEDojoError(f"hill-climb: {path} is not UTF-8 text ({e}); save it as UTF-8") from e


class HillClimbAgent(Agent):
    """Runs the hill-climbing loop over one episode."""

    name: ClassVar[str] = "hill-climb"

    def __init__(
        self,
        model: str = SCRIPTED,
        critic_model: str | None = None,
        model_base_url: str | None = None,
        baseline: str | None = None,
        max_iterations: int = 6,
        max_consecutive_failures: int = 3,
        target_score: float | None = None,
        smoke_timeout_s: float = 300,
        train_timeout_s: float = 1800,
        max_retries: int = 4,
    ) -> None:
        self.model = model
        self.options: dict[str, Any] = {
            "critic_model": critic_model,
            "model_base_url": model_base_url,
            "baseline_source": read_baseline(baseline),
            "max_iterations": max_iterations,
            "max_consecutive_failures": max_consecutive_failures,
            "target_score": target_score,
            "smoke_timeout_s": smoke_timeout_s,
            "train_timeout_s": train_timeout_s,
            "max_retries": max_retries,
        }
        self.last: HillClimbRun | None = None

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("hill-climb drives the episode itself: use run(env)")

    def run(self, env: MLEDojoEnv, *, seed: int | None = None) -> AgentOutcome:
        if self.model != SCRIPTED:
            return self._run(env, seed, HillClimbConfig(model=self.model, **self.options))
        from mledojo.testing.llm_server import ScriptedLLMServer
        from mledojo.testing.scripted_hillclimb import (
            ACTOR_MODEL,
            CRITIC_MODEL,
            ScriptedHillClimb,
            brownfield_script,
            greenfield_script,
        )

        brownfield = self.options["baseline_source"] is not None
        critic, actor = brownfield_script() if brownfield else greenfield_script()
        with ScriptedLLMServer(ScriptedHillClimb(critic, actor)) as server:
            options = {**self.options, "model_base_url": server.openai_base_url}
            options["critic_model"] = f"openai-compatible/{CRITIC_MODEL}"
            config = HillClimbConfig(model=f"openai-compatible/{ACTOR_MODEL}", **options)
            return self._run(env, seed, config)

    def _run(self, env: MLEDojoEnv, seed: int | None, config: HillClimbConfig) -> AgentOutcome:
        _, info = env.reset(seed=seed)
        run = HillClimbRun(env, config, dict(info["task"]))
        self.last = run
        run.run()
        notes = "; ".join(run.notes) + (" [scripted, no key]" if self.model == SCRIPTED else "")
        return AgentOutcome(
            steps=run.steps,
            total_reward=run.reward,
            terminated=run.terminated,
            truncated=run.truncated,
            llm=run.llm if run.llm.calls else None,
            notes=notes,
        )
