"""Structured output that does not depend on the SDK: schema checks, prompt mode, validation."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mledojo.llm.models import Api
from mledojo.llm.record import WireReply

T = TypeVar("T", bound=BaseModel)

REPAIR_PROMPT = (
    "Your previous reply did not match the required JSON schema `{name}`:\n{errors}\n"
    "Reply again with only one JSON object that matches the schema, and nothing else."
)
PROMPT_MODE_INSTRUCTION = (
    "Answer with only one JSON object, no prose and no code fence, that matches this JSON "
    "schema (`{name}`):\n{schema}"
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def native_structured_ok(api: Api, json_schema: dict[str, Any]) -> bool:
    """Whether the API's native structured output can carry this schema.

    Anthropic's tool input schemas take any JSON schema. OpenAI's strict json_schema mode
    needs every object closed (`additionalProperties: false`), so a `dict[str, X]` field or an
    untyped (`Any`) value cannot be expressed; such schemas go in the prompt instead.
    """
    if api == "anthropic-messages":
        return True
    return _strict_compatible(json_schema)


def _strict_compatible(schema: Any) -> bool:
    """Whether a (sub)schema is expressible in OpenAI's strict mode (see above)."""
    if not isinstance(schema, dict):
        return True
    if not schema:
        return False  # `Any`
    extra = schema.get("additionalProperties")
    if extra is not None and extra is not False:
        return False  # an open mapping
    subschemas: list[Any] = []
    for key in ("properties", "$defs", "definitions"):
        subschemas += list((schema.get(key) or {}).values())
    for key in ("items", "not"):
        if key in schema:
            subschemas.append(schema[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        subschemas += list(schema.get(key) or [])
    return all(_strict_compatible(sub) for sub in subschemas)


def extract_json(text: str) -> str:
    """The JSON object in a reply: the whole text, a fenced block, or the outermost braces."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return stripped
    fenced = _FENCE.search(stripped)
    if fenced:
        return fenced.group(1).strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    return stripped[start : end + 1] if 0 <= start < end else stripped


def validate_reply(schema: type[T], reply: WireReply) -> tuple[T | None, str]:
    """The reply as a `schema` instance, or None and the validation errors in brief."""
    try:
        if reply.tool_input is not None:
            return schema.model_validate(reply.tool_input), ""
        return schema.model_validate_json(extract_json(reply.text)), ""
    except ValidationError as exc:
        lines = []
        for err in exc.errors()[:10]:
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            lines.append(f"- {where}: {err['msg']}")
        return None, "\n".join(lines)
