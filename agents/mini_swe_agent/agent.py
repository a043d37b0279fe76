"""`mini-swe-agent`: the minimal SWE-agent, run unchanged; see docs/agents/mini-swe-agent.md.

mini-swe-agent (pinned below) runs in its own cached venv; its `DefaultAgent` loop, prompts
and templates are its own. The driver (`driver.py`) gives it an environment whose bash
commands run in the episode's sandbox and a model that calls the episode's gateway.
`model=scripted` (the default) is the offline path: a scripted conversation (look at the
data, write a baseline, run it, submit) from the scripted LLM server, no key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from mledojo.adapters import SCRIPTED, VenvSpec, WrappedAgent, local_config
from mledojo.errors import MLEDojoError
from mledojo.llm.gateway import GatewayConfig
from mledojo.llm.models import parse_model

# `--no-deps`: what the driver imports (measured: imports plus one Chat Completions call,
# mapped to their distributions), not mini-swe-agent's 81 dependencies (litellm, datasets,
# textual, ...). Its model classes all need litellm or a hard-coded host, so the driver
# brings its own model class over the `openai` SDK, which mini-swe-agent lists anyway.
REQUIREMENTS = (
    "mini-swe-agent==2.4.6",
    "openai==3.63.0",
    "PyYAML==6.0.4",
    "Jinja2==3.1.6",
    "MarkupSafe==3.0.4",
    "pydantic==2.14.4",
    "pydantic_core==2.50.5",
    "annotated-types==0.8.0",
    "typing_extensions==4.16.0",
    "typing-inspection==0.4.5",
    "python-dotenv==1.2.4",
    "platformdirs==4.14.9",
    "rich==15.0.0",
    "anyio==4.16.0",
    "idna==3.21",
    "sniffio==1.3.1",
    "httpx2==2.17.0",
    "httpcore2==2.17.0",
    "h11==0.16.0",
    "truststore==0.10.5",
    "jiter==0.19.0",
)


class MiniSweAgent(WrappedAgent):
    """mini-swe-agent over one episode (see the module docstring)."""

    name: ClassVar[str] = "mini-swe-agent"
    venv: ClassVar[VenvSpec] = VenvSpec(name="mini-swe-agent", requirements=REQUIREMENTS)
    driver: ClassVar[Path] = Path(__file__).with_name("driver.py")

    def __init__(
        self,
        model: str = SCRIPTED,
        model_base_url: str | None = None,
        step_limit: int = 0,
        command_timeout_s: int = 600,
        idle_timeout_s: float = 1800.0,
    ) -> None:
        super().__init__(model=model, model_base_url=model_base_url, idle_timeout_s=idle_timeout_s)
        if model != SCRIPTED and parse_model(model).provider == "anthropic":
            raise MLEDojoError(
                "mini-swe-agent here speaks OpenAI Chat Completions: use openai/<model>, or "
                "openai-compatible/<model> with model_base_url (a local server, or an "
                "OpenAI-compatible endpoint of another provider)"
            )
        if step_limit < 0 or command_timeout_s <= 0:
            raise MLEDojoError("step_limit must be >= 0 and command_timeout_s > 0")
        self.step_limit = step_limit
        self.command_timeout_s = command_timeout_s

    def driver_config(self, model: str) -> dict[str, Any]:
        return {
            "model": model,
            "step_limit": self.step_limit,
            "command_timeout_s": self.command_timeout_s,
        }

    @contextmanager
    def upstream(self) -> Iterator[tuple[GatewayConfig, str]]:
        if self.model != SCRIPTED:
            with super().upstream() as found:
                yield found
            return
        from mledojo.testing.llm_server import ScriptedLLMServer
        from mledojo.testing.scripted_mini import SCRIPTED_MODEL, ScriptedMini

        with ScriptedLLMServer(ScriptedMini()) as server:
            yield local_config(server.openai_base_url, server.base_url), SCRIPTED_MODEL
