"""E2B's snapshots and forks: ``create_snapshot``, ``list_snapshots``, ``fork``; a snapshot's
id is a template (``Sandbox.create(snapshot_id)``), deleted by ``DELETE /templates/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from interpreter.api.deps import manager
from interpreter.api.e2b import schemas
from interpreter.api.e2b.control import control_router
from interpreter.api.errors import STATUS, lookup
from interpreter.core.errors import InterpreterError, InvalidRequestError
from interpreter.service.manager import SandboxManager

router = control_router()
Manager = Annotated[SandboxManager, Depends(manager)]


class SnapshotRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    memory: bool | None = None


class ForkRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    timeout: int | None = Field(None, ge=0)
    count: int | None = None


@router.post("/sandboxes/{sandbox_id}/snapshots", status_code=201, summary="E2B: snapshot")
async def create_snapshot(
    sandbox_id: str, sandboxes: Manager, body: SnapshotRequest | None = None
) -> dict[str, Any]:
    body = body or SnapshotRequest()
    memory = body.memory is not False
    snapshot = await sandboxes.create_snapshot(sandbox_id, body.name, memory)
    return {"snapshotID": snapshot.id, "names": [snapshot.name] if snapshot.name else []}


@router.get("/snapshots", summary="E2B: list snapshots")
async def list_snapshots(
    sandboxes: Manager,
    sandbox_id: Annotated[str | None, Query(alias="sandboxID")] = None,
    name: str | None = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> JSONResponse:
    snapshots = [s for s in sandboxes.snapshots.list(sandbox_id) if name in (None, s.name)]
    snapshots.sort(key=lambda s: s.created_at, reverse=True)
    if next_token is not None and not next_token.isdigit():
        raise InvalidRequestError("invalid nextToken")
    start, limit = int(next_token or 0), min(limit, 100)
    page = snapshots[start : start + limit]
    headers = {"x-next-token": str(start + limit)} if start + limit < len(snapshots) else {}
    body = [{"snapshotID": s.id, "names": [s.name] if s.name else []} for s in page]
    return JSONResponse(body, headers=headers)


@router.post("/sandboxes/{sandbox_id}/fork", status_code=201, summary="E2B: fork a sandbox")
async def fork_sandbox(
    sandbox_id: str, request: Request, sandboxes: Manager, body: ForkRequest | None = None
) -> JSONResponse:
    body = body or ForkRequest()
    count = 1 if body.count is None else body.count
    results = await sandboxes.fork(sandbox_id, count, body.timeout or None)
    key = request.app.state.manager.signer.key
    domain = sandboxes.settings.sandbox_domain
    answer: list[dict[str, Any]] = []
    for result in results:
        if isinstance(result, InterpreterError):
            code = lookup(STATUS, type(result)) or 500
            answer.append({"error": {"code": code, "message": str(result)}})
        else:
            answer.append({"sandbox": schemas.sandbox(result, key, domain)})
    return JSONResponse(answer, status_code=201)
