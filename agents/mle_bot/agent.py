"""`mle-bot`: the autonomous ML engineer (profile, design, execute, analyze, report).

The planner is an LLM (`model=openai/gpt-5-mini`, `anthropic/...`, `openai-compatible/...`
with `model_base_url`) or the deterministic rules (`model=rules`, no LLM). The work is done
by the trusted tools in the episode's container; see docs/agents/mle-bot.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from mledojo.agent import Agent, AgentOutcome
from mledojo.bot.engine import BotConfig, MLEBot
from mledojo.env import MLEDojoEnv


class MLEBotAgent(Agent):
    """Runs the five phases of the MLE-Bot over one episode."""

    name: ClassVar[str] = "mle-bot"

    def __init__(
        self,
        model: str = "rules",
        model_base_url: str | None = None,
        max_iterations: int = 3,
        experiments_per_batch: int = 3,
        retries: int = 2,
        inject_failure: bool = False,
        llm_replay: str | Path | None = None,
        problem: str | None = None,
        concurrent: bool = True,
    ) -> None:
        self.config = BotConfig(
            model=model,
            model_base_url=model_base_url,
            max_iterations=max_iterations,
            experiments_per_batch=experiments_per_batch,
            retries=retries,
            inject_failure=inject_failure,
            llm_replay=Path(llm_replay) if llm_replay is not None else None,
            problem=problem,
            concurrent=concurrent,
        )
        self.bot: MLEBot | None = None

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("mle-bot drives the episode itself: use run(env)")

    def run(self, env: MLEDojoEnv, *, seed: int | None = None) -> AgentOutcome:
        _, info = env.reset(seed=seed)
        self.bot = MLEBot(env, self.config)
        self.bot.run(dict(info["task"]))
        bot = self.bot
        return AgentOutcome(
            steps=bot.steps,
            total_reward=bot.reward,
            terminated=bot.terminated,
            truncated=bot.truncated,
            llm=bot.llm if bot.llm.calls else None,
            notes="; ".join(bot.notes) + (" [no LLM]" if self.config.model == "rules" else ""),
        )
