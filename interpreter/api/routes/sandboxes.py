"""/v1/sandboxes: create, get, list, kill, set timeout, pause, resume, metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from starlette.requests import Request
from starlette.responses import Response as StarletteResponse
from starlette.websockets import WebSocket

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.api.ports import proxy_http, proxy_websocket
from interpreter.api.schemas import (
    Metrics,
    PauseSandbox,
    ResumeSandbox,
    Sandbox,
    SetTimeout,
)
from interpreter.core.errors import ConflictError, GatewayError, InvalidRequestError, NotFoundError
from interpreter.core.network import Network
from interpreter.core.options import SandboxOptions
from interpreter.service.manager import SandboxManager

router = APIRouter(
    prefix="/sandboxes",
    tags=["sandboxes"],
    responses=answers(NotFoundError, InvalidRequestError, ConflictError, GatewayError),
)
Manager = Annotated[SandboxManager, Depends(manager)]


@router.post("", status_code=201)
async def create_sandbox(
    body: SandboxOptions,
    sandboxes: Manager,
    idempotency_key: Annotated[
        str | None,
        Header(description="A retry with the same key gets the first create's sandbox."),
    ] = None,
) -> Sandbox:
    """Create a sandbox and wait until it is ready to run code."""
    record = await sandboxes.create(body, idempotency_key)
    return Sandbox.of(record)


@router.get("")
async def list_sandboxes(
    sandboxes: Manager,
    metadata: Annotated[
        list[str] | None, Query(description="key=value; repeat to require several.")
    ] = None,
) -> list[Sandbox]:
    """List live sandboxes, optionally only those whose metadata has every given pair."""
    wanted: dict[str, str] = {}
    for pair in metadata or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidRequestError(f"metadata filter {pair!r} is not key=value")
        wanted[key] = value
    return [Sandbox.of(r) for r in sandboxes.list(wanted)]


@router.get("/{sandbox_id}")
async def get_sandbox(sandbox_id: str, sandboxes: Manager) -> Sandbox:
    """One sandbox."""
    return Sandbox.of(sandboxes.get(sandbox_id))


@router.delete("/{sandbox_id}", status_code=204)
async def kill_sandbox(sandbox_id: str, sandboxes: Manager) -> Response:
    """Kill a sandbox: its processes, mounts, cgroups and files are removed."""
    await sandboxes.kill(sandbox_id)
    return Response(status_code=204)


@router.post("/{sandbox_id}/timeout")
async def set_timeout(sandbox_id: str, body: SetTimeout, sandboxes: Manager) -> Sandbox:
    """Set the sandbox's remaining lifetime, counted from now."""
    return Sandbox.of(await sandboxes.set_timeout(sandbox_id, body.timeout))


@router.put("/{sandbox_id}/network")
async def update_network(sandbox_id: str, body: Network, sandboxes: Manager) -> Sandbox:
    """Replace the sandbox's network: egress on or off and its rules, at once for a running
    sandbox (connections the new rules refuse stop), at resume for a paused one."""
    return Sandbox.of(await sandboxes.update_network(sandbox_id, body))


PROXIED = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route(
    "/{sandbox_id}/ports/{port}/{path:path}", methods=PROXIED, responses=answers(GatewayError)
)
async def port_http(
    sandbox_id: str, port: int, path: str, request: Request, sandboxes: Manager
) -> StarletteResponse:
    """HTTP to a server listening on the sandbox's TCP ``port`` (127.0.0.1 inside), streamed
    both ways: 502 (PortNotOpenError) if nothing listens there. Works without egress."""
    return await proxy_http(request, sandboxes, sandbox_id, port, path)


@router.websocket("/{sandbox_id}/ports/{port}/{path:path}")
async def port_websocket(sandbox_id: str, port: int, path: str, websocket: WebSocket) -> None:
    """A websocket to the sandbox's ``port``, relayed message by message."""
    await proxy_websocket(websocket, websocket.app.state.manager, sandbox_id, port, path)


@router.post("/{sandbox_id}/pause")
async def pause_sandbox(
    sandbox_id: str, sandboxes: Manager, body: PauseSandbox | None = None
) -> Sandbox:
    """Pause a sandbox: its processes are checkpointed (memory=true) and stop; its files stay.
    409 if it is already paused. If the checkpoint fails the sandbox keeps running."""
    memory = body.memory if body else True
    return Sandbox.of(await sandboxes.pause(sandbox_id, memory=memory))


@router.post("/{sandbox_id}/resume")
async def resume_sandbox(
    sandbox_id: str, sandboxes: Manager, body: ResumeSandbox | None = None
) -> Sandbox:
    """Resume a paused sandbox (a running one is returned as is). Any request that needs the
    sandbox running (run code, files, commands) resumes it too."""
    body = body or ResumeSandbox()
    return Sandbox.of(await sandboxes.resume(sandbox_id, timeout=body.timeout, memory=body.memory))


@router.get("/{sandbox_id}/metrics")
async def sandbox_metrics(
    sandbox_id: str,
    sandboxes: Manager,
    start: Annotated[datetime | None, Query(description="Samples from this moment.")] = None,
    end: Annotated[datetime | None, Query(description="Samples until this moment.")] = None,
) -> list[Metrics]:
    """Resource use, sampled every `INTERPRETER_METRICS_INTERVAL` seconds (kept an hour), and
    the use now when the range reaches the present."""
    start, end = (t.replace(tzinfo=UTC) if t and t.tzinfo is None else t for t in (start, end))
    series = await sandboxes.metrics_between(sandbox_id, start, end)
    return [Metrics.model_validate(sample, from_attributes=True) for sample in series]
