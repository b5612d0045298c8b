"""The run_code tool as a model sees it (name, description, JSON schema), the check of a call's
arguments against such a schema, and the reading of OpenAI's and Anthropic's tool calls.

The check covers the part of JSON Schema the tools' schemas use (an object of typed properties,
required names, enums, bounds, string maps), so the SDK needs no schema library and every
complaint names its field. The MCP server (``interpreter/mcp``) checks its tools with it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interpreter_sdk._errors import ToolCallError

RUN_CODE = "run_code"
LANGUAGES = ("python", "javascript", "typescript", "bash", "r", "java")
MAX_RUN_TIMEOUT = 3600  # seconds a model may ask one run to take

RUN_CODE_DESCRIPTION = (
    "Run code in a sandboxed Jupyter kernel and get its output. Languages: python (default; "
    "pandas, numpy and matplotlib installed), javascript and typescript (Deno), bash, r, java. "
    "State persists between calls: variables, imports and files stay. The value of the "
    "last line is returned (a DataFrame as a table); charts come back as images. Long output is "
    "cut (the whole of it is saved to a file in the sandbox); each run may take `timeout` "
    "seconds (default 300). The sandbox has no internet access unless it was created with it."
)

RUN_CODE_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "The code to run.", "minLength": 1},
        "language": {
            "type": "string",
            "enum": list(LANGUAGES),
            "description": "The language of the code (default: python).",
        },
        "timeout": {
            "type": "number",
            "minimum": 1,
            "maximum": MAX_RUN_TIMEOUT,
            "description": "Seconds the run may take before it is interrupted (default 300).",
        },
    },
    "required": ["code"],
    "additionalProperties": False,
}

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def check_arguments(schema: Mapping[str, Any], arguments: object, tool: str) -> dict[str, Any]:
    """The arguments of a call to ``tool`` if they fit ``schema``; ``null`` for an optional
    argument counts as leaving it out (models send that).

    Raises:
        ToolCallError: what does not fit, with the argument's name in ``field``.
    """
    if not isinstance(arguments, dict):
        raise ToolCallError(f"{tool}: the arguments must be a JSON object", field="arguments")
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = schema.get("required", ())
    given = {k: v for k, v in arguments.items() if v is not None or k in required}
    for name in required:
        if name not in given:
            raise ToolCallError(f"{tool}: '{name}' is required", field=name)
    for name, value in given.items():
        if name not in properties:
            known = ", ".join(properties)
            raise ToolCallError(f"{tool}: unknown argument '{name}' (it takes {known})", name)
        _check_value(properties[name], value, f"{tool}: '{name}'", name)
    return given


def _check_value(schema: Mapping[str, Any], value: object, what: str, field: str) -> None:
    kind = schema.get("type")
    if kind is not None:
        wanted = _TYPES[kind]
        # bool is an int to Python, never a number or an integer to JSON.
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            article = "an" if kind[0] in "aeiou" else "a"
            raise ToolCallError(f"{what} must be {article} {kind}", field)
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(str(c) for c in schema["enum"])
        raise ToolCallError(f"{what} must be one of {choices}, not {value!r}", field)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ToolCallError(f"{what} must be at least {schema['minimum']}", field)
        if "maximum" in schema and value > schema["maximum"]:
            raise ToolCallError(f"{what} must be at most {schema['maximum']}", field)
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        raise ToolCallError(f"{what} must not be empty", field)
    values = schema.get("additionalProperties")
    if isinstance(value, dict) and isinstance(values, Mapping):
        for key, item in value.items():
            _check_value(values, item, f"{what}['{key}']", field)


@dataclass(frozen=True)
class ToolCall:
    """A model's tool call, whichever API it came from."""

    id: str | None
    name: str
    arguments: object  # as the model wrote them: a JSON string (OpenAI) or an object


def read_tool_call(tool_call: object) -> ToolCall:
    """An OpenAI Chat Completions tool call (``{"id", "function": {"name", "arguments"}}``) or an
    Anthropic ``tool_use`` block (``{"id", "name", "input"}``), as a dict or as those SDKs'
    objects.

    Raises:
        ToolCallError: it is neither.
    """
    call = _as_dict(tool_call)
    function = call.get("function")
    if isinstance(function, Mapping):  # OpenAI
        name, arguments = function.get("name"), function.get("arguments")
    elif call.get("type") == "tool_use":  # Anthropic
        name, arguments = call.get("name"), call.get("input")
    else:
        raise ToolCallError("not a tool call: expected OpenAI's or Anthropic's shape", "name")
    call_id = call.get("id")
    return ToolCall(str(call_id) if call_id is not None else None, str(name), arguments)


def parse_arguments(call: ToolCall, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The call's arguments, decoded from JSON if they are a string, checked against ``schema``.

    Raises:
        ToolCallError: they are not JSON, or do not fit (``field`` names the argument).
    """
    arguments = call.arguments
    if arguments is None or arguments == "":
        arguments = {}
    elif isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            message = f"{call.name}: the arguments are not JSON: {exc}"
            raise ToolCallError(message, "arguments") from exc
    return check_arguments(schema, arguments, call.name)


def _as_dict(value: object) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)  # the openai and anthropic SDKs' pydantic models
    if callable(dump):
        dumped = dump()
        if isinstance(dumped, Mapping):
            return dumped
    raise ToolCallError(f"not a tool call: {type(value).__name__}", "name")
