"""One-shot runs (``POST /v1/run``, ``Sandbox.run``): a sandbox made for one run of code or of
a command, with files written into it before and read back after, then killed whatever
happens: the run succeeding, failing, timing out, or its caller going away (the caller's task
is cancelled: the kill is shielded from that).

The answer is one JSON document, not a stream: a one-shot caller wants the outcome, and a
stream would tie the sandbox's lifetime to a connection the caller may not read to the end.
Whoever wants output as it comes creates a sandbox and streams from it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from interpreter.core import events
from interpreter.core.errors import (
    FileNotFoundInSandboxError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
)
from interpreter.core.network import Network
from interpreter.core.options import SandboxOptions
from interpreter.core.protocol import MAX_PATH, CommandSpec, ProcessEnd, ProcessOutput
from interpreter.service.manager import SandboxManager

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0  # seconds the code or command may run
# Seconds the sandbox outlives the run's timeout: if the kill fails, the reaper
LIFETIME_MARGIN = 60
MAX_FILES = 100  # files written, and files asked for
MAX_RETURNED_BYTES = 16 << 20  # files returned, together: bigger ones belong to a sandbox's files
MAX_OUTPUT = 16 << 20  # characters of stdout (and of stderr) kept; the rest is cut off
TRUNCATED = "\n[output truncated: more than {} characters]\n"


class InlineFile(BaseModel):
    """A file's content in a JSON document: text, or base64 for bytes."""

    model_config = ConfigDict(extra="forbid")

    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"

    def data(self, path: str) -> bytes:
        if self.encoding == "utf-8":
            return self.content.encode()
        try:
            return base64.b64decode(self.content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(f"files[{path!r}]: not valid base64") from None

    @classmethod
    def of(cls, data: bytes) -> InlineFile:
        try:
            return cls(content=data.decode())
        except UnicodeDecodeError:
            return cls(content=base64.b64encode(data).decode(), encoding="base64")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(None, description="Code to run (exclusive with cmd).")
    language: str | None = Field(None, description="The code's language (default python).")
    cmd: str | None = Field(
        None, description="A command line, run by bash -c (exclusive with code)."
    )
    timeout: float = Field(
        DEFAULT_TIMEOUT, gt=0, description="Seconds the code or command may run."
    )
    files: dict[str, str | InlineFile] = Field(
        default_factory=dict,
        description="Written before the run: path (absolute or relative to /home/user) -> text, "
        'or {"content": base64, "encoding": "base64"} for bytes.',
    )
    read_files: list[str] = Field(
        default_factory=list,
        description="Read back after the run (at most 16 MiB together); missing ones are left out.",
    )
    template: str | None = Field(
        None, description="Template of the sandbox (default code-interpreter)."
    )
    envs: dict[str, str] | None = Field(None, description="Environment variables of the sandbox.")
    metadata: dict[str, str] | None = Field(None, description="Tags of the sandbox while it lives.")
    cpu: float | None = Field(None, ge=0.01, le=64, description="CPU cores.")
    memory_mb: int | None = Field(None, ge=128, le=262144, description="Memory limit in MiB.")
    network: Network | None = Field(None, description="Egress (default off).")


class Logs(BaseModel):
    stdout: list[str] = Field(default_factory=list)
    stderr: list[str] = Field(default_factory=list)


class CollectedExecution(BaseModel):
    """An execution's events folded together, as the SDKs fold the execute stream."""

    results: list[events.Result] = Field(default_factory=list)
    logs: Logs = Field(default_factory=Logs)
    error: events.CellError | None = None
    execution_count: int | None = None


class CommandOutcome(BaseModel):
    stdout: str
    stderr: str
    exit_code: int
    error: str | None = None


class RunOutcome(BaseModel):
    sandbox_id: str = Field(description="The sandbox it ran in (killed by now).")
    execution: CollectedExecution | None = Field(None, description="The code's (with code).")
    command: CommandOutcome | None = Field(None, description="The command's (with cmd).")
    files: dict[str, InlineFile] = Field(
        default_factory=dict, description="The files asked for that exist."
    )


def checked(request: RunRequest) -> list[tuple[str, bytes]]:
    """The files to write; InvalidRequestError (400) before any sandbox exists."""
    if (request.code is None) == (request.cmd is None):
        raise InvalidRequestError("give either code or cmd, not both or neither")
    if request.cmd is not None and request.language is not None:
        raise InvalidRequestError("language is for code, not for cmd")
    if len(request.files) > MAX_FILES or len(request.read_files) > MAX_FILES:
        raise InvalidRequestError(f"at most {MAX_FILES} files to write and {MAX_FILES} to read")
    for path in [*request.files, *request.read_files]:
        check_path(path)
    return [
        (path, (InlineFile(content=f) if isinstance(f, str) else f).data(path))
        for path, f in request.files.items()
    ]


def check_path(path: str) -> None:
    if not path or "\0" in path or len(path) > MAX_PATH or path.endswith("/"):
        raise InvalidRequestError(f"{path!r} is not a file's path")


async def run_once(manager: SandboxManager, request: RunRequest) -> RunOutcome:
    files = checked(request)
    lifetime = math.ceil(request.timeout) + LIFETIME_MARGIN
    options = SandboxOptions(
        template=request.template, timeout=lifetime, metadata=request.metadata,
        envs=request.envs, cpu=request.cpu, memory_mb=request.memory_mb, network=request.network,
    )  # fmt: skip
    sandbox_id = await _create(manager, options)
    try:
        return await _use(manager, sandbox_id, request, files)
    finally:
        await _kill(manager, sandbox_id)


_orphans: set[asyncio.Task[None]] = set()  # kills of sandboxes whose caller left mid-create


async def _create(manager: SandboxManager, options: SandboxOptions) -> str:
    creating = asyncio.create_task(manager.create(options))
    try:
        return (await asyncio.shield(creating)).id
    except asyncio.CancelledError:
        # The caller left while the sandbox was being made: kill it once it is.
        def kill_when_made(task: asyncio.Task[object]) -> None:
            if not task.cancelled() and task.exception() is None:
                orphan = asyncio.create_task(_kill(manager, creating.result().id))
                _orphans.add(orphan)
                orphan.add_done_callback(_orphans.discard)

        creating.add_done_callback(kill_when_made)
        raise


async def _kill(manager: SandboxManager, sandbox_id: str) -> None:
    # In its own task: a cancelled caller stops waiting for it, the kill goes on.
    killing = asyncio.create_task(manager.kill(sandbox_id))
    try:
        await asyncio.shield(killing)
    except NotFoundError:
        pass  # killed already (the reaper)
    except asyncio.CancelledError:
        killing.add_done_callback(_log_failure)
        raise
    except Exception:
        log.exception("one-shot sandbox %s: the kill failed (the reaper retries)", sandbox_id)


def _log_failure(task: asyncio.Task[None]) -> None:
    failure = None if task.cancelled() else task.exception()
    if failure is not None and not isinstance(failure, NotFoundError):
        log.error("one-shot sandbox: the kill failed (the reaper retries): %s", failure)


async def _use(
    manager: SandboxManager, sandbox_id: str, request: RunRequest, files: list[tuple[str, bytes]]
) -> RunOutcome:
    sandbox_files = await manager.files(sandbox_id)
    for path, data in files:
        await sandbox_files.write(path, _chunks(data))
    outcome = RunOutcome(sandbox_id=sandbox_id)
    if request.code is not None:
        context = await manager.prepare_run(sandbox_id, request.language)
        run = manager.run(context, request.code, timeout=request.timeout)
        outcome.execution = await collect_execution(run)
    else:
        assert request.cmd is not None  # checked(): one of the two
        commands = await manager.commands(sandbox_id)
        spec = CommandSpec(cmd=request.cmd, timeout=request.timeout)
        outcome.command = await collect_command(await commands.start(spec))
    returned = 0
    for path in request.read_files:
        try:
            info = await sandbox_files.info(path)
            if info.type != "file":
                continue
            returned += info.size
            if returned > MAX_RETURNED_BYTES:
                raise InvalidRequestError(
                    f"read_files: more than {MAX_RETURNED_BYTES >> 20} MiB together; read big "
                    "files from a sandbox of your own (files.read)"
                )
            _, chunks = await sandbox_files.read(path)
            read = bytearray()
            async for chunk in chunks:  # counted as it comes: the size was the sandbox's word
                read += chunk
                if returned - info.size + len(read) > MAX_RETURNED_BYTES:
                    raise InvalidRequestError(
                        f"read_files: {path!r} grew past {MAX_RETURNED_BYTES >> 20} MiB "
                        "together while it was read"
                    )
            outcome.files[path] = InlineFile.of(bytes(read))
        except FileNotFoundInSandboxError:
            continue
    return outcome


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Kept:
    """Output kept up to MAX_OUTPUT characters, with a note where it was cut."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        room = MAX_OUTPUT - self.size
        if room <= 0:
            return
        if len(text) > room:
            text = text[:room] + TRUNCATED.format(MAX_OUTPUT)
        self.parts.append(text)
        self.size += len(text)


async def collect_execution(run: AsyncIterator[events.Event]) -> CollectedExecution:
    """The execution's events folded; a fault (a timeout, the sandbox gone) is raised."""
    execution = CollectedExecution()
    stdout, stderr = Kept(), Kept()
    async for event in run:
        if isinstance(event, events.Stdout):
            stdout.add(event.text)
        elif isinstance(event, events.Stderr):
            stderr.add(event.text)
        elif isinstance(event, events.Result):
            execution.results.append(event)
        elif isinstance(event, events.CellError):
            execution.error = event
        elif isinstance(event, events.ExecutionCount):
            execution.execution_count = event.execution_count
    execution.logs = Logs(stdout=stdout.parts, stderr=stderr.parts)
    return execution


async def collect_command(run: AsyncIterator[object]) -> CommandOutcome:
    stdout, stderr = Kept(), Kept()
    end: ProcessEnd | None = None
    async for event in run:
        if isinstance(event, ProcessOutput):
            (stdout if event.type == "stdout" else stderr).add(event.data)
        elif isinstance(event, ProcessEnd):
            end = event
    if end is None:
        raise GatewayError("the command's output ended before the command did")
    return CommandOutcome(
        stdout="".join(stdout.parts), stderr="".join(stderr.parts),
        exit_code=end.exit_code, error=end.error,
    )  # fmt: skip
