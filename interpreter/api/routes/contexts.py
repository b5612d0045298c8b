"""/v1/sandboxes/{id}/contexts: code contexts (one kernel each)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.api.schemas import Context, CreateContext
from interpreter.core.errors import ConflictError, GatewayError, InvalidRequestError, NotFoundError
from interpreter.service.manager import SandboxManager

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}/contexts",
    tags=["contexts"],
    responses=answers(NotFoundError, InvalidRequestError, ConflictError, GatewayError),
)
Manager = Annotated[SandboxManager, Depends(manager)]


@router.post("", status_code=201)
async def create_context(sandbox_id: str, body: CreateContext, sandboxes: Manager) -> Context:
    """Start a new context (a kernel) with its own state, language and working directory."""
    return Context.of(await sandboxes.create_context(sandbox_id, body.language, body.cwd))


@router.get("")
async def list_contexts(sandbox_id: str, sandboxes: Manager) -> list[Context]:
    """The sandbox's contexts, oldest first."""
    return [Context.of(r) for r in sandboxes.list_contexts(sandbox_id)]


@router.post("/{context_id}/interrupt", status_code=204)
async def interrupt_context(sandbox_id: str, context_id: str, sandboxes: Manager) -> Response:
    """Interrupt the cell running in the context (its state is kept); nothing if none runs."""
    await sandboxes.interrupt_context(sandbox_id, context_id)
    return Response(status_code=204)


@router.post("/{context_id}/restart", status_code=204)
async def restart_context(sandbox_id: str, context_id: str, sandboxes: Manager) -> Response:
    """Restart the context's kernel: its state is cleared."""
    await sandboxes.restart_context(sandbox_id, context_id)
    return Response(status_code=204)


@router.delete("/{context_id}", status_code=204)
async def delete_context(sandbox_id: str, context_id: str, sandboxes: Manager) -> Response:
    """Shut the context's kernel down."""
    await sandboxes.delete_context(sandbox_id, context_id)
    return Response(status_code=204)
