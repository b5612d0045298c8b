"""/v1/sandboxes/{id}/cells and /notebook: every run of a sandbox as a notebook cell, live (the
notebook view follows ``/notebook/events``), exported as .ipynb, and .ipynb files imported."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.core.errors import InvalidRequestError, NotFoundError
from interpreter.core.events import CellError
from interpreter.service.manager import SandboxManager
from interpreter.service.notebook import Cell
from interpreter.service.notebook_format import code_cells, to_ipynb

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}",
    tags=["notebook"],
    responses=answers(NotFoundError, InvalidRequestError),
)
Manager = Annotated[SandboxManager, Depends(manager)]
IPYNB = "application/x-ipynb+json"
ContextQuery = Annotated[str | None, Query(description="One context's cells (default: all).")]


@router.get("/cells")
async def list_cells(
    sandbox_id: str, sandboxes: Manager, context: ContextQuery = None
) -> list[Cell]:
    """Every run of the sandbox (from any client), oldest first, with its outputs."""
    sandboxes.get(sandbox_id)
    return sandboxes.notebooks.cells(sandbox_id, context)


@router.get("/notebook", response_class=Response, responses={200: {"content": {IPYNB: {}}}})
async def export_notebook(
    sandbox_id: str, sandboxes: Manager, context: ContextQuery = None
) -> Response:
    """The cells as a Jupyter notebook (nbformat 4, validated), outputs included."""
    sandboxes.get(sandbox_id)
    cells = sandboxes.notebooks.cells(sandbox_id, context)
    language = cells[0].language if cells else "python"
    notebook = to_ipynb(cells, language)
    name = f"{sandbox_id}{'-' + context if context else ''}.ipynb"
    return Response(
        json.dumps(notebook, indent=1) + "\n",
        media_type=IPYNB,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/notebook/events", response_class=StreamingResponse)
async def follow_notebook(sandbox_id: str, sandboxes: Manager) -> StreamingResponse:
    """Server-sent events: `cells` (all so far), then `cell` (a run started), `count`,
    `output`, `end` (it finished), `keepalive`, and `gone` (the sandbox was killed)."""
    sandboxes.get(sandbox_id)

    async def events() -> AsyncIterator[bytes]:
        async for message in sandboxes.notebooks.follow(sandbox_id):
            yield f"event: {message['type']}\ndata: {json.dumps(message)}\n\n".encode()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/notebook", response_class=Response, responses={200: {"content": {IPYNB: {}}}})
async def import_notebook(
    sandbox_id: str,
    request: Request,
    sandboxes: Manager,
    context_id: Annotated[str | None, Query(description="Run in this context.")] = None,
    allow_errors: Annotated[bool, Query(description="Go on past a cell that raises.")] = False,
) -> Response:
    """Run an .ipynb's code cells in order (by default stopping at the first that raises, as
    nbclient does); answers the notebook of the cells run, with their outputs."""
    language, sources = code_cells(await request.body())
    context = await sandboxes.prepare_run(sandbox_id, None if context_id else language, context_id)
    ran: list[Cell] = []
    for source in sources:
        raised = False
        async for event in sandboxes.run(context, source):
            raised = raised or isinstance(event, CellError)
        cells = sandboxes.notebooks.cells(sandbox_id, context.id)
        ran.extend(c for c in cells[-1:] if c.code == source)
        if raised and not allow_errors:
            break
    notebook = to_ipynb(ran, context.language)
    return Response(json.dumps(notebook, indent=1) + "\n", media_type=IPYNB)
