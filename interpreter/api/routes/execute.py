"""/v1/sandboxes/{id}/execute: run code, streamed back as NDJSON events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends

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
    timeout) and a final `end`."""
    context = await sandboxes.prepare_run(sandbox_id, body.language, body.context_id)
    events = sandboxes.run(context, body.code, envs=body.envs, timeout=body.timeout)

    async def lines() -> AsyncIterator[bytes]:
        try:
            async for event in events:
                yield ndjson(event)
        except InterpreterError as exc:
            yield ndjson(Fault(error={"type": type(exc).__name__, "message": str(exc)}))

    return NDJSONResponse(lines(), last=ndjson(End()))
