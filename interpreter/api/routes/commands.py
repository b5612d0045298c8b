"""/v1/sandboxes/{id}/commands: processes inside a sandbox, their output streamed as NDJSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from interpreter.api.deps import manager
from interpreter.api.errors import SANDBOX_FILES
from interpreter.api.ndjson import NDJSONResponse
from interpreter.api.schemas import Body, EnvVars
from interpreter.core.errors import InvalidRequestError
from interpreter.core.protocol import CommandSpec, ProcessInfo, TerminalSize
from interpreter.service.commands import ProcessEvent
from interpreter.service.manager import SandboxManager

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}/commands", tags=["commands"], responses=SANDBOX_FILES
)
Manager = Annotated[SandboxManager, Depends(manager)]
MAX_STDIN_BYTES = 1 << 20


class StartCommand(Body):
    cmd: str = Field(..., min_length=1, description="Run by bash -c (with pty, `bash` is a shell).")
    envs: EnvVars | None = Field(None, description="Extra environment variables.")
    cwd: str | None = Field(None, description="Working directory; default the user's home.")
    user: Literal["user", "root"] = Field("user", description="Who runs it inside the sandbox.")
    timeout: float | None = Field(None, gt=0, description="Seconds before its group is killed.")
    stdin: bool = Field(False, description="Keep stdin open for /stdin writes.")
    pty: TerminalSize | None = Field(None, description="Run on a terminal of this size.")
    tag: str | None = Field(None, max_length=200, description="A label shown in the list.")


def ndjson(events: AsyncIterator[ProcessEvent]) -> NDJSONResponse:
    async def lines() -> AsyncIterator[bytes]:
        async for event in events:
            # Optional fields only when set: {"type": "end", "exit_code": 0}.
            yield json.dumps(event.model_dump(mode="json", exclude_defaults=True)).encode() + b"\n"

    return NDJSONResponse(lines())


@router.post("", response_class=NDJSONResponse)
async def start_command(sandbox_id: str, body: StartCommand, sandboxes: Manager) -> NDJSONResponse:
    """Start a process. Streams `start` (pid), `stdout`/`stderr` (`data`) and `end` (`exit_code`).
    Leaving the stream does not stop the process: reconnect with `/{pid}/stream`."""
    spec = CommandSpec.of(body.model_dump(exclude_none=True))
    return ndjson(await (await sandboxes.commands(sandbox_id)).start(spec))


@router.get("")
async def list_commands(sandbox_id: str, sandboxes: Manager) -> list[ProcessInfo]:
    """Processes started through the API, with status running / completed / failed / cancelled."""
    return await (await sandboxes.commands(sandbox_id)).list()


@router.get("/{pid}")
async def command_info(sandbox_id: str, pid: int, sandboxes: Manager) -> ProcessInfo:
    """One process: status and exit code."""
    return await (await sandboxes.commands(sandbox_id)).info(pid)


@router.get("/{pid}/stream", response_class=NDJSONResponse)
async def follow_command(
    sandbox_id: str, pid: int, sandboxes: Manager, replay: bool = True
) -> NDJSONResponse:
    """A process's output: what it printed so far (kept up to 4 MiB), then live, then `end`."""
    return ndjson(await (await sandboxes.commands(sandbox_id)).follow(pid, replay))


@router.post("/{pid}/stdin")
async def send_stdin(
    sandbox_id: str, pid: int, request: Request, sandboxes: Manager
) -> ProcessInfo:
    """Write the request body to the process's stdin."""
    data = await request.body()
    if len(data) > MAX_STDIN_BYTES:
        raise InvalidRequestError(f"stdin writes are limited to {MAX_STDIN_BYTES} bytes")
    return await (await sandboxes.commands(sandbox_id)).send_stdin(pid, data)


@router.post("/{pid}/close-stdin")
async def close_stdin(sandbox_id: str, pid: int, sandboxes: Manager) -> ProcessInfo:
    """Close the process's stdin (end of input)."""
    return await (await sandboxes.commands(sandbox_id)).close_stdin(pid)


@router.post("/{pid}/kill")
async def kill_command(
    sandbox_id: str,
    pid: int,
    sandboxes: Manager,
    signal: Literal["TERM", "KILL", "INT"] = "TERM",
) -> ProcessInfo:
    """Signal the process group; TERM becomes KILL after 2 s."""
    return await (await sandboxes.commands(sandbox_id)).kill(pid, signal)


@router.post("/{pid}/resize")
async def resize_terminal(
    sandbox_id: str,
    pid: int,
    sandboxes: Manager,
    cols: Annotated[int, Query(ge=1, le=1000)],
    rows: Annotated[int, Query(ge=1, le=1000)],
) -> ProcessInfo:
    """Resize the process's terminal."""
    return await (await sandboxes.commands(sandbox_id)).resize(pid, cols, rows)
