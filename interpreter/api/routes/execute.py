"""/v1/sandboxes/{id}/execute: run code, streamed back as NDJSON events; /runs: runs over a
websocket."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket

from interpreter.api import run_socket
from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.api.ndjson import NDJSONResponse
from interpreter.api.schemas import Execute
from interpreter.core.errors import (
    ConflictError,
    GatewayError,
    InterpreterError,
    InvalidRequestError,
    NotFoundError,
)
from interpreter.core.events import End, Event, Fault
from interpreter.service.manager import SandboxManager

log = logging.getLogger(__name__)
router = APIRouter(
    tags=["execute"],
    responses=answers(NotFoundError, InvalidRequestError, ConflictError, GatewayError),
)
Manager = Annotated[SandboxManager, Depends(manager)]


def ndjson(event: Event) -> bytes:
    return event.model_dump_json(by_alias=True, exclude_none=True).encode() + b"\n"


@router.post(
    "/sandboxes/{sandbox_id}/execute",
    response_class=NDJSONResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON events."}},
)
async def execute(sandbox_id: str, body: Execute, sandboxes: Manager) -> NDJSONResponse:
    """Run code in a context. One JSON event per line: `execution_count`, `stdout`, `stderr`,
    `result`, `error` (the code raised), `keepalive`, `fault` (infrastructure failure, e.g. a
    timeout) and a final `end`. (`/runs`, a websocket, takes runs one after another.)"""
    return NDJSONResponse(await lines(sandboxes, sandbox_id, body), last=ndjson(End()))


@router.websocket("/sandboxes/{sandbox_id}/runs")
async def runs(sandbox_id: str, websocket: WebSocket) -> None:
    """Runs one after another over one websocket, each as `POST .../execute` takes it and
    answers it (the protocol: ``api/run_socket.py``)."""
    sandboxes: SandboxManager = websocket.app.state.manager
    await websocket.accept()
    await run_socket.serve(websocket, lambda body: lines(sandboxes, sandbox_id, body))


async def lines(
    sandboxes: SandboxManager, sandbox_id: str, body: Execute
) -> AsyncGenerator[bytes, None]:
    """A run's events as NDJSON lines (without the end); what ``prepare_run`` raises (the run
    refused) is raised here, before any line."""
    context = await sandboxes.prepare_run(sandbox_id, body.language, body.context_id)
    events = sandboxes.run(context, body.code, envs=body.envs, timeout=body.timeout)

    async def lines() -> AsyncGenerator[bytes, None]:
        try:
            async for event in events:
                yield ndjson(event)
        except InterpreterError as exc:
            yield ndjson(Fault(error={"type": type(exc).__name__, "message": str(exc)}))

    return lines()
