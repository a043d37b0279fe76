"""The dated price table: dollars per million tokens for each `provider/name` model.

The table ships as `prices-<date>.yaml` beside this module; `MLEDOJO_LLM_PRICES` (or the
`override` argument) names a YAML file of the same shape whose entries replace the shipped ones.
A dated snapshot suffix (`claude-sonnet-4-5-20250929`, `gpt-5-2025-08-07`) falls back to the
undated entry. Models of `openai-compatible` (self-hosted servers) cost nothing unless listed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mledojo.llm.errors import PriceTableError
from mledojo.llm.models import CallUsage, ModelRef

PRICES_ENV = "MLEDOJO_LLM_PRICES"
SHIPPED_TABLE = Path(__file__).with_name("prices-2025-11-24.yaml")
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


class Price(BaseModel):
    """Dollars per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    output: float = Field(ge=0)


class PriceTable(BaseModel):
    """A price file: its date and a price per `provider/name`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: str
    models: dict[str, Price]

    @classmethod
    def load(cls, path: Path) -> PriceTable:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls.model_validate(raw)
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PriceTableError(
                f"Price table {path} is unreadable: {detail}. Fix it or unset {PRICES_ENV}."
            ) from None

    @classmethod
    def default(cls, override: Path | None = None) -> PriceTable:
        """The shipped table, with the entries of `override` (or `$MLEDOJO_LLM_PRICES`) on top."""
        table = cls.load(SHIPPED_TABLE)
        extra = override or (Path(os.environ[PRICES_ENV]) if os.environ.get(PRICES_ENV) else None)
        if extra is None:
            return table
        mine = cls.load(extra)
        return cls(as_of=mine.as_of, models={**table.models, **mine.models})

    def price_of(self, model: ModelRef) -> Price | None:
        """The model's price; None when the table does not know it."""
        key = str(model)
        for candidate in (key, _SNAPSHOT_SUFFIX.sub("", key)):
            if candidate in self.models:
                return self.models[candidate]
        if model.provider == "openai-compatible":
            return Price(input=0.0, cached_input=0.0, output=0.0)
        return None

    def usage(
        self,
        model: ModelRef,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> CallUsage:
        """A call's usage with its dollar cost (None when the model is not priced)."""
        price = self.price_of(model)
        usd: float | None = None
        if price is not None:
            cached = min(cached_tokens, input_tokens)
            cached_rate = price.input if price.cached_input is None else price.cached_input
            usd = (
                (input_tokens - cached) * price.input
                + cached * cached_rate
                + output_tokens * price.output
            ) / 1_000_000
        return CallUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
            reasoning_tokens=reasoning_tokens,
            usd=usd,
        )
