"""The MCP tools for code and sandboxes: what a model reads about each (name, description,
input schema) and what it does, on the SDK's AsyncSandbox. Files: ``file_tools``.

A tool answers with ``interpreter_sdk.tools.ToolOutput`` (text, images, is_error), the SDK's
form of a model-ready answer, which ``server`` turns into MCP content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from interpreter.mcp.conversations import Conversation
from interpreter_sdk import AsyncSandbox
from interpreter_sdk.tools import (
    DEFAULT_BUDGET,
    RUN_CODE,
    RUN_CODE_DESCRIPTION,
    RUN_CODE_PARAMETERS,
    ToolOutput,
    fit_async,
    run_code_async,
    strip_ansi,
)

DEFAULT_RUN_TIMEOUT = 300.0  # seconds, as the SDK's run_code
DEFAULT_COMMAND_TIMEOUT = 60.0  # seconds, as the SDK's commands.run
MAX_TIMEOUT = RUN_CODE_PARAMETERS["properties"]["timeout"]["maximum"]


@dataclass(frozen=True)
class Call:
    """One tool call: its conversation, its checked arguments, and what the answer may hold."""

    conversation: Conversation
    arguments: dict[str, Any]
    origin: str | None = None  # scheme://host the client reached (HTTP): for signed URLs
    budget: int = DEFAULT_BUDGET

    def sandbox_id(self) -> str | None:
        value = self.arguments.get("sandbox")
        return str(value) if value is not None else None


Handler = Callable[[Call], Awaitable[ToolOutput]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    schema: dict[str, Any]
    run: Handler
    read_only: bool = False  # changes nothing: hosts may call it without asking


def schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


SANDBOX = {
    "type": "string",
    "description": "Id of the sandbox to use (from create_sandbox or list_sandboxes). Default: "
    "this conversation's own sandbox, started at its first use.",
}
TIMEOUT = {"type": "number", "minimum": 1, "maximum": MAX_TIMEOUT}


def noted(output: ToolOutput, notes: list[str]) -> ToolOutput:
    """The answer with the conversation's notes (a sandbox started or replaced) first."""
    if not notes:
        return output
    return replace(output, text="".join(f"[note] {n}\n" for n in notes) + output.text)


# -- code ----------------------------------------------------------------------------------------


async def run_code(call: Call) -> ToolOutput:
    args = call.arguments
    timeout = float(args.get("timeout", DEFAULT_RUN_TIMEOUT))

    async def run(sandbox: AsyncSandbox) -> ToolOutput:
        code, language, context = args["code"], args.get("language"), args.get("context")
        return await run_code_async(sandbox, code, language, context, timeout, call.budget)

    output, notes = await call.conversation.use(call.sandbox_id(), run, runs_for=timeout)
    return noted(output, notes)


RUN_CODE_SCHEMA = schema(
    {
        **RUN_CODE_PARAMETERS["properties"],
        "sandbox": SANDBOX,
        "context": {
            "type": "string",
            "description": "Id of a code context (an independent kernel) of the sandbox; "
            "default: the language's own.",
        },
    },
    ("code",),
)


async def run_command(call: Call) -> ToolOutput:
    args = call.arguments
    timeout = float(args.get("timeout", DEFAULT_COMMAND_TIMEOUT))

    async def run(sandbox: AsyncSandbox) -> ToolOutput:
        result = await sandbox.commands.run(
            args["command"], cwd=args.get("cwd"), timeout=timeout, check=False
        )
        parts = [f"exit code {result.exit_code}" + (f" ({result.error})" if result.error else "")]
        if result.stdout:
            parts.append("[stdout]\n" + strip_ansi(result.stdout).rstrip("\n"))
        if result.stderr:
            parts.append("[stderr]\n" + strip_ansi(result.stderr).rstrip("\n"))
        text = await fit_async(sandbox, "\n".join(parts), call.budget, "run_command")
        return ToolOutput(text, is_error=result.exit_code != 0)

    output, notes = await call.conversation.use(call.sandbox_id(), run, runs_for=timeout)
    return noted(output, notes)


# -- sandboxes -----------------------------------------------------------------------------------


async def create_sandbox(call: Call) -> ToolOutput:
    args, conversation = call.arguments, call.conversation
    sandbox = await conversation.create(
        args.get("template"), bool(args.get("internet", False)), args.get("envs")
    )
    text = f"created sandbox {sandbox.sandbox_id} (template {sandbox.info.template})"
    if conversation.key is not None and conversation.default_id is None:
        conversation.default_id = sandbox.sandbox_id
        text += ": this conversation's sandbox from now on (calls without `sandbox` use it)"
    else:
        text += f'; pass sandbox="{sandbox.sandbox_id}" to the other tools to use it'
    return ToolOutput(text + ". It is killed when this conversation ends.")


async def list_sandboxes(call: Call) -> ToolOutput:
    conversation = call.conversation
    link = conversation.link
    every = bool(call.arguments.get("all", False))
    metadata = None if every else {"mcp_conversation": conversation.tag}
    infos = await AsyncSandbox.list(metadata, link.api_url, link.api_key)
    if not infos:
        return ToolOutput("no sandboxes" + ("" if every else " of this conversation yet"))
    lines = []
    for info in infos:
        line = f"{info.id}  template={info.template}  state={info.state}"
        line += f"  expires={info.expires_at.isoformat(timespec='seconds')}"
        if info.id == conversation.default_id:
            line += "  (this conversation's own)"
        lines.append(line)
    return ToolOutput("\n".join(lines))


async def kill_sandbox(call: Call) -> ToolOutput:
    conversation = call.conversation
    sandbox_id = call.sandbox_id() or conversation.default_id
    if sandbox_id is None:
        return ToolOutput("this conversation has no sandbox to kill", is_error=True)
    await conversation.kill(sandbox_id)
    return ToolOutput(f"killed sandbox {sandbox_id}")


CODE_TOOLS = [
    ToolSpec(
        RUN_CODE,
        RUN_CODE_DESCRIPTION + " Runs in this conversation's own sandbox unless `sandbox` names "
        "another.",
        RUN_CODE_SCHEMA,
        run_code,
    ),
    ToolSpec(
        "run_command",
        "Run a shell command (bash -c) in the sandbox as the user `user`, in /home/user unless "
        "`cwd` says otherwise, and get its exit code, stdout and stderr. For installing packages "
        "(pip install, npm install: needs a sandbox created with internet), files, git. Killed "
        "after `timeout` seconds (default 60); long output is cut, the whole saved to a file.",
        schema(
            {
                "command": {"type": "string", "minLength": 1, "description": "The command."},
                "cwd": {"type": "string", "description": "Working folder."},
                "timeout": {**TIMEOUT, "description": "Seconds before it is killed (default 60)."},
                "sandbox": SANDBOX,
            },
            ("command",),
        ),
        run_command,
    ),
    ToolSpec(
        "create_sandbox",
        "Start a new sandbox: an isolated Linux machine with Python, Deno (JavaScript, "
        "TypeScript), R and Java (1 CPU, 1 GiB memory by default). Each conversation gets one "
        "automatically; make another only to keep work apart or to have internet access (off "
        "by default). Returns its id, for the `sandbox` argument of the other tools. It is "
        "killed when this conversation ends.",
        schema(
            {
                "template": {
                    "type": "string",
                    "description": "Template (image) name; default: code-interpreter.",
                },
                "internet": {
                    "type": "boolean",
                    "description": "Allow outbound internet access (default false).",
                },
                "envs": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Environment variables of every process in it.",
                },
            }
        ),
        create_sandbox,
    ),
    ToolSpec(
        "list_sandboxes",
        "List the sandboxes of this conversation (with `all`: every running sandbox of the "
        "service): id, template, state, when it expires.",
        schema({"all": {"type": "boolean", "description": "Every sandbox, not just ours."}}),
        list_sandboxes,
        read_only=True,
    ),
    ToolSpec(
        "kill_sandbox",
        "Kill a sandbox (default: this conversation's own): its processes, variables and files "
        "are gone. A later call without `sandbox` starts a fresh one.",
        schema({"sandbox": SANDBOX}),
        kill_sandbox,
    ),
]
