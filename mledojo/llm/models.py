"""Model names (`provider/name`), chat messages and per-call usage: the layer's plain types."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mledojo.artifacts import LLMUsage
from mledojo.errors import did_you_mean
from mledojo.llm.errors import ModelNameError

Provider = Literal["openai", "anthropic", "openai-compatible"]
Api = Literal["openai-responses", "openai-chat", "anthropic-messages"]
PROVIDERS: tuple[Provider, ...] = ("openai", "anthropic", "openai-compatible")

# Which wire format each provider speaks: OpenAI's own models use the Responses API (its
# recommended one, with reasoning-token usage); vLLM, Ollama and llama.cpp speak Chat Completions.
API_OF: dict[Provider, Api] = {
    "openai": "openai-responses",
    "anthropic": "anthropic-messages",
    "openai-compatible": "openai-chat",
}
# The host environment variable holding each provider's key (openai-compatible: see make_client).
KEY_VARIABLE: dict[Provider, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai-compatible": "OPENAI_COMPATIBLE_API_KEY",
}


class ModelRef(BaseModel):
    """A model named the inspect_ai / litellm way: `openai/gpt-5-mini`."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    name: str = Field(min_length=1)

    @property
    def api(self) -> Api:
        return API_OF[self.provider]

    def __str__(self) -> str:
        return f"{self.provider}/{self.name}"


def parse_model(text: str) -> ModelRef:
    """Parse `provider/name`; an unknown provider gets a did-you-mean hint."""
    provider, sep, name = text.strip().partition("/")
    if not sep or not provider or not name.strip():
        raise ModelNameError(
            f"Model `{text}` is not `provider/name`; use e.g. `openai/gpt-5-mini`, "
            "`anthropic/claude-sonnet-4-5` or `openai-compatible/qwen3` (with a base URL)."
        )
    if provider not in PROVIDERS:
        _, hint = did_you_mean(provider, PROVIDERS)
        raise ModelNameError(
            f"Unknown model provider `{provider}` in `{text}`.{hint} "
            f"Known providers: {', '.join(PROVIDERS)}."
        )
    return ModelRef(provider=provider, name=name.strip())


class Message(BaseModel):
    """One chat message; providers' own shapes are built from these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class CallUsage(BaseModel):
    """Tokens and dollars of one call (or of a call and its repair round, summed).

    `input_tokens` counts every prompt token, cached ones included; `cached_tokens` is the
    cached part of it. `reasoning_tokens` is the part of `output_tokens` spent reasoning.
    `usd` is None when the price table has no entry for the model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)
    usd: float | None = Field(default=0.0, ge=0)
    calls: int = Field(default=1, ge=0)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_llm_usage(self) -> LLMUsage:
        """The episode's record of these calls (`env.charge_llm`); unpriced counts $0."""
        return LLMUsage(
            calls=self.calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_tokens=self.cached_tokens,
            reasoning_tokens=self.reasoning_tokens,
            usd=self.usd or 0.0,
        )

    def __add__(self, other: CallUsage) -> CallUsage:
        usd = None if self.usd is None or other.usd is None else self.usd + other.usd
        return CallUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            usd=usd,
            calls=self.calls + other.calls,
        )
