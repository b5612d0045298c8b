"""/v1/run: a one-shot run (a sandbox for one run of code or a command, then killed)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.core.errors import (
    ConflictError,
    ExecutionTimeoutError,
    GatewayError,
    InvalidRequestError,
    KernelError,
    NotFoundError,
    PermissionDeniedError,
    SandboxStartError,
)
from interpreter.service import one_shot
from interpreter.service.manager import SandboxManager

router = APIRouter(
    tags=["run"],
    # A create's answers, the files API's (a path the user may not write: 403) and a run's.
    responses=answers(
        InvalidRequestError,
        NotFoundError,
        PermissionDeniedError,
        ConflictError,
        ExecutionTimeoutError,
        GatewayError,
        KernelError,
        SandboxStartError,
    ),
)
Manager = Annotated[SandboxManager, Depends(manager)]
CLIENT_GONE = 499  # nginx's "client closed request": nobody reads it
T = TypeVar("T")


@router.post("/run", response_model=one_shot.RunOutcome)
async def run(body: one_shot.RunRequest, request: Request, sandboxes: Manager) -> Response:
    """Create a sandbox (from the warm pool), write `files` into it, run `code` or `cmd`, read
    `read_files` back and kill it, also when the client goes away mid-run. One JSON answer:
    `execution` (the execute stream's events folded: results, logs, error, execution_count) or
    `command` (stdout, stderr, exit_code, error), and `files`. A code run past `timeout` is an
    ExecutionTimeoutError (408); a command past it is killed, its `error` says so."""
    outcome = await until_disconnected(request, one_shot.run_once(sandboxes, body))
    if outcome is None:
        return Response(status_code=CLIENT_GONE)
    return JSONResponse(outcome.model_dump(mode="json", by_alias=True))


async def until_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T | None:
    """``work``'s result, or None if the client disconnects first (``work`` is cancelled:
    its clean-up runs before this returns)."""
    working = asyncio.ensure_future(work)
    watching = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({working, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
        if not working.done():
            working.cancel()  # the client left: its sandbox is killed before we go on
        await asyncio.gather(watching, working, return_exceptions=True)
    if working.cancelled():
        return None
    return working.result()


async def _disconnect(request: Request) -> None:
    # The body was read (FastAPI parsed it): what `receive` gives now is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass
