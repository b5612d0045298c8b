"""run_code as a tool for LLM tool calls: its definition for OpenAI and Anthropic, and the
handling of a call: run in a given sandbox, answered as content a model reads.

    from interpreter_sdk import Sandbox, tools

    response = client.messages.create(..., tools=[tools.anthropic_tool()])
    with Sandbox.create() as sbx:
        results = [
            tools.handle(block, sbx).anthropic()  # text, and charts as images
            for block in response.content
            if block.type == "tool_use"
        ]

With OpenAI's Chat Completions: ``tools=[tools.openai_tool()]``, then
``messages += tools.handle(call, sbx).openai()`` for each of ``message.tool_calls``.

What a run printed, returned and raised comes back as labelled text (``[stdout]``, ``[stderr]``,
``[result]``, ``[error]``) and PNG/JPEG charts as images; text over ``budget`` characters is cut
with a marker naming the file in the sandbox that holds all of it. Code that raises or times out
is an error result (``is_error``), for the model to read and fix; a sandbox that is gone raises,
as everywhere in the SDK.
"""

from __future__ import annotations

from typing import Any

from interpreter_sdk._async import AsyncSandbox
from interpreter_sdk._base import DEFAULT_RUN_TIMEOUT
from interpreter_sdk._errors import ExecutionTimeoutError, SandboxError, ToolCallError
from interpreter_sdk._models import CellError, Execution, OutputMessage, Result
from interpreter_sdk._sync import Sandbox
from interpreter_sdk._tool_content import (
    DEFAULT_BUDGET,
    NO_OUTPUT,
    Image,
    ToolOutput,
    overflow_path,
    render_execution,
    strip_ansi,
    truncate,
)
from interpreter_sdk._tool_schema import (
    LANGUAGES,
    RUN_CODE,
    RUN_CODE_DESCRIPTION,
    RUN_CODE_PARAMETERS,
    ToolCall,
    check_arguments,
    parse_arguments,
    read_tool_call,
)

__all__ = [
    "DEFAULT_BUDGET",
    "LANGUAGES",
    "RUN_CODE",
    "RUN_CODE_DESCRIPTION",
    "RUN_CODE_PARAMETERS",
    "Image",
    "ToolCall",
    "ToolCallError",
    "ToolOutput",
    "anthropic_tool",
    "check_arguments",
    "fit",
    "fit_async",
    "handle",
    "handle_async",
    "openai_tool",
    "parse_arguments",
    "read_tool_call",
    "run_code",
    "run_code_async",
    "strip_ansi",
    "truncate",
]


def openai_tool() -> dict[str, Any]:
    """run_code as an OpenAI Chat Completions function tool (``tools=[...]``)."""
    return {
        "type": "function",
        "function": {
            "name": RUN_CODE,
            "description": RUN_CODE_DESCRIPTION,
            "parameters": RUN_CODE_PARAMETERS,
        },
    }


def anthropic_tool() -> dict[str, Any]:
    """run_code as an Anthropic Messages tool (``tools=[...]``)."""
    description, schema = RUN_CODE_DESCRIPTION, RUN_CODE_PARAMETERS
    return {"name": RUN_CODE, "description": description, "input_schema": schema}


def handle(tool_call: object, sandbox: Sandbox, budget: int = DEFAULT_BUDGET) -> ToolOutput:
    """Run a model's run_code call in ``sandbox``.

    Args:
        tool_call: an OpenAI tool call or an Anthropic ``tool_use`` block (dict or SDK object).
        budget: characters of text the answer may hold.

    Returns:
        The answer, with the call's id; arguments that do not fit the tool give an error answer
        naming the argument, for the model to correct.

    Raises:
        ToolCallError: ``tool_call`` is not a tool call, or calls another tool.
        SandboxError: the sandbox could not run it (e.g. ``NotFoundError``: it is gone).
    """
    call, arguments = _start(tool_call)
    if isinstance(arguments, ToolOutput):
        return arguments
    output = run_code(sandbox, budget=budget, **arguments)
    output.call_id = call.id
    return output


async def handle_async(
    tool_call: object, sandbox: AsyncSandbox, budget: int = DEFAULT_BUDGET
) -> ToolOutput:
    """``handle`` for an AsyncSandbox."""
    call, arguments = _start(tool_call)
    if isinstance(arguments, ToolOutput):
        return arguments
    output = await run_code_async(sandbox, budget=budget, **arguments)
    output.call_id = call.id
    return output


def _start(tool_call: object) -> tuple[ToolCall, dict[str, Any] | ToolOutput]:
    call = read_tool_call(tool_call)
    if call.name != RUN_CODE:
        raise ToolCallError(f"this handles {RUN_CODE}, not {call.name!r}", "name")
    try:
        return call, parse_arguments(call, RUN_CODE_PARAMETERS)
    except ToolCallError as exc:  # the model's to fix: it reads why
        return call, ToolOutput(str(exc), is_error=True, call_id=call.id)


def run_code(
    sandbox: Sandbox,
    code: str,
    language: str | None = None,
    context: str | None = None,
    timeout: float | None = DEFAULT_RUN_TIMEOUT,
    budget: int = DEFAULT_BUDGET,
) -> ToolOutput:
    """Run ``code`` and answer as a model reads it (see the module's docstring); a timeout is
    an error answer with what the run printed until then."""
    seen = _Seen()
    try:
        execution = sandbox.run_code(code, language, context, timeout=timeout, **seen.handlers())
    except ExecutionTimeoutError:
        text, images = _rendered(seen.execution, True, timeout)
        return ToolOutput(fit(sandbox, text, budget, RUN_CODE), images, is_error=True)
    text, images = _rendered(execution)
    return ToolOutput(fit(sandbox, text, budget, RUN_CODE), images, execution.error is not None)


async def run_code_async(
    sandbox: AsyncSandbox,
    code: str,
    language: str | None = None,
    context: str | None = None,
    timeout: float | None = DEFAULT_RUN_TIMEOUT,
    budget: int = DEFAULT_BUDGET,
) -> ToolOutput:
    """``run_code`` for an AsyncSandbox."""
    seen = _Seen()
    try:
        execution = await sandbox.run_code(
            code, language, context, timeout=timeout, **seen.handlers()
        )
    except ExecutionTimeoutError:
        text, images = _rendered(seen.execution, True, timeout)
        return ToolOutput(await fit_async(sandbox, text, budget, RUN_CODE), images, is_error=True)
    text, images = _rendered(execution)
    text = await fit_async(sandbox, text, budget, RUN_CODE)
    return ToolOutput(text, images, execution.error is not None)


def fit(sandbox: Sandbox, text: str, budget: int = DEFAULT_BUDGET, kind: str = "output") -> str:
    """``text`` cut to ``budget`` characters, the whole of it saved in a file of the sandbox
    that the marker names (``/tmp/tool-output/KIND-*.txt``)."""
    if len(text) <= budget:
        return text
    path = overflow_path(kind)
    try:
        sandbox.files.write(path, text)
    except SandboxError as exc:
        return truncate(text, budget, f"the whole output could not be saved: {exc}")
    return truncate(text, budget, f"the whole output is in the file {path}")


async def fit_async(
    sandbox: AsyncSandbox, text: str, budget: int = DEFAULT_BUDGET, kind: str = "output"
) -> str:
    """``fit`` for an AsyncSandbox."""
    if len(text) <= budget:
        return text
    path = overflow_path(kind)
    try:
        await sandbox.files.write(path, text)
    except SandboxError as exc:
        return truncate(text, budget, f"the whole output could not be saved: {exc}")
    return truncate(text, budget, f"the whole output is in the file {path}")


class _Seen:
    """What a run sent before it ended: all there is of a run that timed out."""

    def __init__(self) -> None:
        self.execution = Execution()

    def handlers(self) -> dict[str, Any]:
        logs = self.execution.logs

        def on_error(error: CellError) -> None:
            self.execution.error = error

        def on_result(result: Result) -> None:
            self.execution.results.append(result)

        def on_stdout(message: OutputMessage) -> None:
            logs.stdout.append(message.text)

        def on_stderr(message: OutputMessage) -> None:
            logs.stderr.append(message.text)

        return {"on_stdout": on_stdout, "on_stderr": on_stderr, "on_result": on_result,
                "on_error": on_error}  # fmt: skip


def _rendered(
    execution: Execution, interrupted: bool = False, timeout: float | None = None
) -> tuple[str, list[Image]]:
    """The run's text and images, after a notice if it was ``interrupted`` at its timeout."""
    text, images = render_execution(execution)
    if not interrupted:
        return text, images
    limit = f" ({timeout:g} s)" if timeout is not None else ""
    notice = f"[timeout] the run passed its time limit{limit} and was interrupted; the kernel "
    notice += "keeps what was defined before"
    return (notice if text == NO_OUTPUT else f"{notice}\n{text}"), images
