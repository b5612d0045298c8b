"""/v1/pool: the warm pool's state per template (operators, tests and benchmarks watch it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from interpreter.api.deps import manager
from interpreter.service.manager import SandboxManager

router = APIRouter(prefix="/pool", tags=["pool"])
Manager = Annotated[SandboxManager, Depends(manager)]


class PoolState(BaseModel):
    template: str
    size: int
    ready: int
    booting: bool
    snapshot: str = Field(description='"pending", "ready", "failed" or "off".')


@router.get("")
async def pool_state(sandboxes: Manager) -> list[PoolState]:
    """Per template: the configured size, the ready sandboxes, whether one is starting, the
    state of its snapshot."""
    return [PoolState.model_validate(state) for state in sandboxes.pool_status()]
