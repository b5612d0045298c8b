"""/v1/sandboxes/{id}/snapshots and /fork, /v1/snapshots: snapshots of running sandboxes
(usable as templates: ``template=<snapshot id>``) and forks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.api.schemas import Sandbox
from interpreter.core.errors import ConflictError, InvalidRequestError, NotFoundError
from interpreter.core.models import SnapshotRecord
from interpreter.service.manager import SandboxManager

router = APIRouter(
    tags=["snapshots"], responses=answers(NotFoundError, InvalidRequestError, ConflictError)
)
Manager = Annotated[SandboxManager, Depends(manager)]


class TakeSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    memory: bool = Field(True, description="Keep processes and kernels (false: only the files).")


class Fork(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=1, le=100)
    timeout: int | None = Field(None, ge=1, description="Lifetime of each fork in seconds.")


class Snapshot(BaseModel):
    id: str
    name: str | None
    sandbox_id: str
    template: str
    memory: bool
    created_at: datetime
    frozen_seconds: float = Field(description="How long the source was paused for it.")

    @classmethod
    def of(cls, record: SnapshotRecord) -> Snapshot:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class ForkResult(BaseModel):
    sandbox: Sandbox | None = None
    error: str | None = None


@router.post("/sandboxes/{sandbox_id}/snapshots", status_code=201)
async def take_snapshot(
    sandbox_id: str, sandboxes: Manager, body: TakeSnapshot | None = None
) -> Snapshot:
    """Snapshot a running sandbox (it runs on); create sandboxes from it with its id."""
    body = body or TakeSnapshot()
    return Snapshot.of(await sandboxes.create_snapshot(sandbox_id, body.name, body.memory))


@router.post("/sandboxes/{sandbox_id}/fork", status_code=201)
async def fork_sandbox(
    sandbox_id: str, sandboxes: Manager, body: Fork | None = None
) -> list[ForkResult]:
    """``count`` new sandboxes with the source's memory and files; each a sandbox or an error."""
    body = body or Fork()
    results = await sandboxes.fork(sandbox_id, body.count, body.timeout)
    return [
        ForkResult(error=str(r)) if isinstance(r, Exception) else ForkResult(sandbox=Sandbox.of(r))
        for r in results
    ]


@router.get("/snapshots")
async def list_snapshots(sandboxes: Manager, sandbox_id: str | None = None) -> list[Snapshot]:
    return [Snapshot.of(s) for s in sandboxes.snapshots.list(sandbox_id)]


@router.get("/snapshots/{snapshot_id}")
async def get_snapshot(snapshot_id: str, sandboxes: Manager) -> Snapshot:
    return Snapshot.of(sandboxes.snapshots.get(snapshot_id))


@router.delete("/snapshots/{snapshot_id}", status_code=204)
async def delete_snapshot(snapshot_id: str, sandboxes: Manager) -> Response:
    """Delete a snapshot (409 while sandboxes made from it exist)."""
    await sandboxes.delete_snapshot(snapshot_id)
    return Response(status_code=204)
