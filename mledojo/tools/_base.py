"""What every tool shares: the error types, the argument base model and the call wrapper.

A tool is a function `(ArgsModel) -> dict`. `run_tool` validates the raw JSON object into
the tool's pydantic model (an unknown or malformed argument becomes a `ToolArgumentError`
naming the argument and the fix), calls the tool, and turns any unexpected exception into a
`ToolError` whose message cannot quote a data value (pandas and numpy messages often do).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

# Names a caller chooses for the handles a tool writes: short, no separators or dots.
HANDLE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Column names given as arguments.
MAX_COLUMN_NAME = 200
MAX_LIST = 500


class ToolError(Exception):
    """A tool refused or failed; the message says why and what to do."""


class ToolArgumentError(ToolError):
    """An argument is unknown, missing or malformed."""


class ToolArgs(BaseModel):
    """Base of every tool's argument model: unknown arguments are errors, values are strict."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, the description an LLM reads, its argument model and function."""

    name: str
    description: str
    args_model: type[ToolArgs]
    fn: Callable[[Any], dict[str, Any]]

    def definition(self) -> dict[str, Any]:
        """The JSON an LLM gets: name, description, JSON schema of the arguments."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": inline_refs(self.args_model.model_json_schema()),
        }

    def __call__(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The runner's contract: JSON object in, JSON object out."""
        return run_tool(self, raw)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `$ref` to `$defs` replaced by the definition itself.

    Some tool-calling back ends (local servers, older SDK paths) do not resolve `$ref`; a
    self-contained schema works everywhere. The argument models are not recursive.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                merged = {
                    **defs[ref.removeprefix("#/$defs/")],
                    **{k: v for k, v in node.items() if k != "$ref"},
                }
                return walk(merged)
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]


def run_tool(spec: ToolSpec, raw: Any) -> dict[str, Any]:
    """Validate `raw` into the tool's model, run the tool, keep data values out of errors."""
    args = parse_args(spec, raw)
    try:
        return spec.fn(args)
    except ToolError:
        raise
    except MemoryError:
        raise ToolError(f"{spec.name} ran out of memory; use fewer rows or features") from None
    except Exception as exc:  # noqa: BLE001 - any other failure is reported without its text
        raise ToolError(
            f"{spec.name} failed with {type(exc).__name__} (message withheld: it may quote "
            "data values). Check the column types and arguments; encode text columns with "
            "engineer_features before training."
        ) from None


def parse_args(spec: ToolSpec, raw: Any) -> Any:
    """`raw` as the tool's argument model, or a `ToolArgumentError` naming what is wrong."""
    if not isinstance(raw, dict):
        raise ToolArgumentError(f"{spec.name}: the arguments must be a JSON object")
    known = sorted(spec.args_model.model_fields)
    for key in raw:
        if key not in spec.args_model.model_fields:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise ToolArgumentError(
                f"{spec.name}: unknown argument `{str(key)[:60]}`.{hint} "
                f"Allowed arguments: {', '.join(known)}."
            )
    try:
        return spec.args_model.model_validate(raw)
    except ValidationError as exc:
        raise ToolArgumentError(_describe(spec, exc)) from None


def _describe(spec: ToolSpec, exc: ValidationError) -> str:
    """One line per problem: the argument's dotted path, what is wrong, the allowed values."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(part) for part in err["loc"]) or "(arguments)"
        lines.append(f"argument `{where}`: {err['msg']}")
    fields = ", ".join(
        f"{name}{'' if f.is_required() else '?'}"
        for name, f in spec.args_model.model_fields.items()
    )
    return f"{spec.name}: " + "; ".join(lines) + f". Arguments: {fields}."
