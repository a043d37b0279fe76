"""`react`: the ReAct research agent (MLAgentBench style); see docs/agents/react.md.

The research model answers in the Reflection / Research Plan and Status / Fact Check /
Thought / Action / Action Input format; a supporting assistant model serves Understand File
and Edit Script (AI). `model=scripted` (the default) is the offline path: a scripted
conversation served by the scripted LLM server on loopback, through the real `openai` SDK.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mledojo.agent import Agent, AgentOutcome
from mledojo.env import MLEDojoEnv
from mledojo.react.engine import ReactConfig, ReactRun

SCRIPTED = "scripted"


class ReactAgent(Agent):
    """Runs the ReAct loop over one episode."""

    name: ClassVar[str] = "react"

    def __init__(
        self,
        model: str = SCRIPTED,
        assistant_model: str | None = None,
        model_base_url: str | None = None,
        max_actions: int = 20,
        max_format_retries: int = 3,
        history_steps: int = 6,
        max_retries: int = 4,
    ) -> None:
        self.model = model
        self.options: dict[str, Any] = {
            "assistant_model": assistant_model,
            "model_base_url": model_base_url,
            "max_actions": max_actions,
            "max_format_retries": max_format_retries,
            "history_steps": history_steps,
            "max_retries": max_retries,
        }
        self.last: ReactRun | None = None

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("react drives the episode itself: use run(env)")

    def run(self, env: MLEDojoEnv, *, seed: int | None = None) -> AgentOutcome:
        if self.model != SCRIPTED:
            return self._run(env, seed, ReactConfig(model=self.model, **self.options))
        from mledojo.testing.llm_server import ScriptedLLMServer
        from mledojo.testing.scripted_react import (
            ASSISTANT_MODEL,
            RESEARCH_MODEL,
            ScriptedResearcher,
        )

        with ScriptedLLMServer(ScriptedResearcher()) as server:
            options = {**self.options, "model_base_url": server.openai_base_url}
            options["assistant_model"] = f"openai-compatible/{ASSISTANT_MODEL}"
            config = ReactConfig(model=f"openai-compatible/{RESEARCH_MODEL}", **options)
            return self._run(env, seed, config)

    def _run(self, env: MLEDojoEnv, seed: int | None, config: ReactConfig) -> AgentOutcome:
        _, info = env.reset(seed=seed)
        run = ReactRun(env, config, dict(info["task"]))
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
