"""The research model's reply format, parsed strictly.

A reply holds six headed parts in this order, each once, each at the start of a line:
Reflection, Research Plan and Status, Fact Check, Thought, Action, Action Input. The action
is one of six names; its input is one JSON object with exactly that action's fields. Anything
else is a `FormatError` whose message is fed back to the model, so it can answer again.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_REPLY_CHARS = 40_000  # a longer reply is refused before it is parsed
MAX_PATH_CHARS = 300
MAX_TEXT_CHARS = 20_000  # an edit instruction, a thing to look for, a final answer

HEADERS = (
    "Reflection",
    "Research Plan and Status",
    "Fact Check",
    "Thought",
    "Action",
    "Action Input",
)
ActionName = Literal[
    "List Files",
    "Inspect Script Lines",
    "Understand File",
    "Execute Script",
    "Edit Script (AI)",
    "Final Answer",
]
_HEADER_LINE = re.compile(
    r"^[ \t]*(" + "|".join(re.escape(h) for h in HEADERS) + r")[ \t]*:", re.MULTILINE
)


class FormatError(ValueError):
    """A reply that breaks the format; the message says what to fix."""


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListFiles(_Input):
    dir_path: str = Field(max_length=MAX_PATH_CHARS)


class InspectScriptLines(_Input):
    script_name: str = Field(max_length=MAX_PATH_CHARS)
    start_line_number: int = Field(ge=1)
    end_line_number: int = Field(ge=1)


class UnderstandFile(_Input):
    file_name: str = Field(max_length=MAX_PATH_CHARS)
    things_to_look_for: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class ExecuteScript(_Input):
    script_name: str = Field(max_length=MAX_PATH_CHARS)


class EditScript(_Input):
    script_name: str = Field(max_length=MAX_PATH_CHARS)
    edit_instruction: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    save_name: str = Field(max_length=MAX_PATH_CHARS)


class FinalAnswer(_Input):
    final_answer: str = Field(max_length=MAX_TEXT_CHARS)


ActionInput = (
    ListFiles | InspectScriptLines | UnderstandFile | ExecuteScript | EditScript | FinalAnswer
)
INPUTS: dict[str, type[_Input]] = {
    "List Files": ListFiles,
    "Inspect Script Lines": InspectScriptLines,
    "Understand File": UnderstandFile,
    "Execute Script": ExecuteScript,
    "Edit Script (AI)": EditScript,
    "Final Answer": FinalAnswer,
}


class ReactStep(BaseModel):
    """One parsed reply of the research model."""

    model_config = ConfigDict(frozen=True)

    reflection: str
    plan: str
    fact_check: str
    thought: str
    action: ActionName
    action_input: ActionInput


def parse_reply(text: str) -> ReactStep:
    """The reply as a `ReactStep`, or `FormatError` naming the first thing wrong."""
    if len(text) > MAX_REPLY_CHARS:
        raise FormatError(
            f"The reply is {len(text)} characters; at most {MAX_REPLY_CHARS} are read. "
            "Answer shorter."
        )
    found = [(m.group(1), m.start(), m.end()) for m in _HEADER_LINE.finditer(text)]
    names = [name for name, _, _ in found]
    if names != list(HEADERS):
        missing = [h for h in HEADERS if h not in names]
        twice = sorted({h for h in names if names.count(h) > 1})
        what = (
            f"missing {', '.join(missing)}"
            if missing
            else f"repeated {', '.join(twice)}"
            if twice
            else f"out of order ({', '.join(names)})"
        )
        raise FormatError(
            f"The reply must have the parts {', '.join(h + ':' for h in HEADERS)} in this "
            f"order, each once at the start of a line; it has them {what}."
        )
    parts: dict[str, str] = {}
    for i, (name, _, end) in enumerate(found):
        stop = found[i + 1][1] if i + 1 < len(found) else len(text)
        parts[name] = text[end:stop].strip()
    action = parts["Action"]
    if action not in INPUTS:
        raise FormatError(f"Unknown action {action[:80]!r}; the actions are: {', '.join(INPUTS)}.")
    return ReactStep(
        reflection=parts["Reflection"],
        plan=parts["Research Plan and Status"],
        fact_check=parts["Fact Check"],
        thought=parts["Thought"],
        action=action,  # type: ignore[arg-type]  # checked against INPUTS above
        action_input=_action_input(action, parts["Action Input"]),
    )


def _action_input(action: str, raw: str) -> ActionInput:
    schema = INPUTS[action]
    fields = ", ".join(f'"{k}"' for k in schema.model_fields)
    body = _strip_fence(raw)
    try:
        value: Any = json.loads(body)
    except ValueError as e:
        raise FormatError(
            f"Action Input for {action} is not valid JSON ({e}); give one JSON object with "
            f"the fields {fields}."
        ) from None
    if not isinstance(value, dict):
        raise FormatError(f"Action Input for {action} must be a JSON object with {fields}.")
    try:
        parsed: ActionInput = schema.model_validate(value)  # type: ignore[assignment]
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
            for err in e.errors()[:5]
        )
        raise FormatError(
            f"Action Input for {action} is wrong: {problems}. It takes exactly {fields}."
        ) from None
    return parsed


def _strip_fence(raw: str) -> str:
    """Allow the JSON object inside one ``` fence (models often add one)."""
    body = raw.strip()
    if body.startswith("```") and body.endswith("```") and len(body) >= 6:
        body = body[3:-3]
        first, _, rest = body.partition("\n")
        body = rest if first.strip().isalpha() or not first.strip() else body
    return body.strip()
