"""`aide`: AIDE (aideml 0.2.2), its tree search run unchanged; see docs/agents/aide.md.

aideml drafts, improves and debugs whole scripts, judging each run with a `submit_review`
function call. It runs in its own cached venv (`VENV`, never mledojo's); `driver.py` gives
its search the episode's sandbox instead of aideml's local interpreter, and its OpenAI /
Anthropic backends the episode's gateway (metered into the env's LLM budget). `model=scripted`
(the default) is the offline path: a scripted AIDE model (`mledojo.testing.scripted_aide`)
behind the scripted server, through the same gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mledojo.adapters.gateway import local_config, provider_config
from mledojo.adapters.venv import VenvSpec
from mledojo.adapters.wrapped import SCRIPTED, WrappedAgent
from mledojo.agent import AgentOutcome
from mledojo.errors import MLEDojoError
from mledojo.llm.gateway import GatewayConfig
from mledojo.llm.models import parse_model

if TYPE_CHECKING:
    from mledojo.env import MLEDojoEnv
    from mledojo.testing.replies import RecordedRequest, Reply

# What the driver really imports, measured in an empty venv (aideml with --no-deps, then
# `import aide.agent` until it loads): no torch, scikit-learn or the rest of its long list.
VENV = VenvSpec(
    name="aide",
    requirements=(
        "aideml==0.2.2",
        "annotated-types==0.8.0",
        "anthropic==2.17.0",
        "anyio==4.16.0",
        "attrs==26.1.0",
        "backoff==2.2.1",
        "black==24.3.0",
        "click==8.5.1",
        "coolname==5.0.0",
        "dataclasses-json==0.6.7",
        "docstring_parser==0.18.0",
        "funcy==2.0",
        "genson==1.4.0",
        "h11==0.16.0",
        "httpcore2==2.17.0",
        "httpx2==2.17.0",
        "humanize==4.8.0",
        "idna==3.21",
        "igraph==1.0.0",
        "jiter==0.19.0",
        "jsonschema==4.19.2",
        "jsonschema-specifications==2025.9.1",
        "markdown-it-py==4.3.0",
        "marshmallow==3.26.2",
        "mdurl==0.1.2",
        "mypy_extensions==1.2.0",
        "numpy==1.26.2",
        "omegaconf==2.4.0",
        "openai==3.63.0",
        "opentelemetry-api==1.45.3",
        "packaging==26.4",
        "pandas==2.1.4",
        "pathspec==1.1.1",
        "platformdirs==4.14.9",
        "pydantic==2.14.4",
        "pydantic_core==2.50.5",
        "Pygments==2.21.0",
        "python-dateutil==4.0.0",
        "pytz==2026.6",
        "PyYAML==6.0.4",
        "referencing==0.37.0",
        "rich==13.7.0",
        "rpds-py==2026.9.1",
        "shutup==0.3.0",
        "sniffio==1.3.1",
        "texttable==1.7.2",
        "truststore==0.10.5",
        "typing-inspect==0.9.0",
        "typing-inspection==0.4.5",
        "typing_extensions==4.16.0",
        "tzdata==2026.6",
    ),
)
# aideml sends any model named like OpenAI's (`gpt-*`, `o3-*`) to OpenAI's own endpoint,
# hard-coded: it is given these neutral names, which the gateway maps back (model_aliases).
CODE_ALIAS = "aide-code"
FEEDBACK_ALIAS = "aide-feedback"
SCRIPTED_STEPS = 3


class AideAgent(WrappedAgent):
    """AIDE's draft / improve / debug search over one episode."""

    name: ClassVar[str] = "aide"
    venv: ClassVar[VenvSpec] = VENV
    driver: ClassVar[Path] = Path(__file__).resolve().parent / "driver.py"

    def __init__(
        self,
        model: str = SCRIPTED,
        feedback_model: str | None = None,
        model_base_url: str | None = None,
        steps: int | None = None,
        num_drafts: int | None = None,
        debug_prob: float = 0.5,
        max_debug_depth: int = 3,
        k_fold_validation: int = 5,
        code_temperature: float = 0.5,
        feedback_temperature: float = 0.5,
        idle_timeout_s: float = 1800.0,
    ) -> None:
        super().__init__(model, model_base_url, idle_timeout_s)
        self.feedback_model = feedback_model or model
        if (model == SCRIPTED) != (self.feedback_model == SCRIPTED):
            raise ValueError("model=scripted and a real feedback_model cannot be mixed")
        scripted = model == SCRIPTED  # offline: a short search, one draft then improvements
        self.options: dict[str, Any] = {
            "steps": (SCRIPTED_STEPS if scripted else 20) if steps is None else steps,
            "num_drafts": (1 if scripted else 5) if num_drafts is None else num_drafts,
            "debug_prob": debug_prob,
            "max_debug_depth": max_debug_depth,
            "k_fold_validation": k_fold_validation,
            "code_temperature": code_temperature,
            "feedback_temperature": feedback_temperature,
        }
        for key in ("steps", "num_drafts", "max_debug_depth", "k_fold_validation"):
            if int(self.options[key]) < 1:
                raise ValueError(f"{key} must be at least 1, got {self.options[key]}")
        if not 0.0 <= debug_prob <= 1.0:
            raise ValueError(f"debug_prob must be within 0..1, got {debug_prob}")
        self._episode: dict[str, Any] = {}
        self._code_model = CODE_ALIAS
        self._feedback_model = FEEDBACK_ALIAS

    def run(self, env: MLEDojoEnv, *, seed: int | None = None) -> AgentOutcome:
        self._episode = {"seed": 0 if seed is None else seed}
        self._episode["step_timeout_s"] = int(env.budget.step_timeout_s)
        return super().run(env, seed=seed)

    def driver_config(self, model: str) -> dict[str, Any]:
        return {
            "code_model": self._code_model,
            "feedback_model": self._feedback_model,
            **self.options,
            **self._episode,
        }

    @contextmanager
    def upstream(self) -> Iterator[tuple[GatewayConfig, str]]:
        if self.model == SCRIPTED:
            from mledojo.testing.llm_server import ScriptedLLMServer

            with ScriptedLLMServer(self.scripted_model()) as server:
                config = local_config(server.openai_base_url, server.base_url)
                yield self._aliased(config, "scripted-code", "scripted-feedback"), CODE_ALIAS
            return
        config, ref = provider_config(self.model, self.model_base_url)
        feedback = parse_model(self.feedback_model)
        if feedback.provider != ref.provider:
            raise MLEDojoError(
                f"aide: model {self.model} and feedback_model {self.feedback_model} must use "
                "the same provider (one gateway upstream per episode)"
            )
        if ref.provider == "anthropic":
            self._code_model, self._feedback_model = _claude(ref.name), _claude(feedback.name)
            yield config, ref.name
            return
        yield self._aliased(config, ref.name, feedback.name), CODE_ALIAS

    def scripted_model(self) -> Callable[[RecordedRequest], Reply]:
        """The offline path's model: the scripted AIDE conversation (tests swap it)."""
        from mledojo.testing.scripted_aide import ScriptedAide

        return ScriptedAide()

    def _aliased(self, config: GatewayConfig, code: str, feedback: str) -> GatewayConfig:
        self._code_model, self._feedback_model = CODE_ALIAS, FEEDBACK_ALIAS
        aliases = {CODE_ALIAS: code, FEEDBACK_ALIAS: feedback}
        return config.model_copy(update={"model_aliases": aliases})


def _claude(name: str) -> str:
    """aideml sends only `claude-*` names to its Anthropic backend (and so to the gateway)."""
    if not name.startswith("claude-"):
        raise MLEDojoError(
            f"aide: Anthropic model {name!r} must be named `claude-...`; aideml routes other "
            "names to OpenAI's endpoint"
        )
    return name
