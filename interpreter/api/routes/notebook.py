"""/v1/sandboxes/{id}/cells and /notebook: every run of a sandbox as a notebook cell, live (the
notebook view follows ``/notebook/events``), exported as .ipynb, and .ipynb files imported."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse

from interpreter.api.deps import manager
from interpreter.api.errors import answers
from interpreter.core.errors import ConflictError, InvalidRequestError, NotFoundError
from interpreter.service.manager import SandboxManager
from interpreter.service.notebook import Cell
from interpreter.service.notebook_format import run_notebook, to_ipynb
from interpreter.service.signing import Grant, expiry

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}",
    tags=["notebook"],
    responses=answers(NotFoundError, InvalidRequestError, ConflictError),
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
    notebook = await asyncio.to_thread(to_ipynb, cells, language)  # seconds for a big one
    name = f"{sandbox_id}{'-' + context if context else ''}.ipynb"
    return Response(
        json.dumps(notebook, indent=1) + "\n",
        media_type=IPYNB,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/notebook/share")
async def share_notebook(
    sandbox_id: str,
    sandboxes: Manager,
    expires_in: Annotated[int, Query(description="Seconds the link stays valid.")] = 3600,
) -> dict[str, str | int]:
    """A link to this sandbox's notebook view, read-only, that expires: whoever opens it sees
    the cells live, and nothing else (no key, no files, no other sandbox)."""
    sandboxes.get(sandbox_id)
    grant = Grant(sandbox_id, "/", "user", "view", expiry(expires_in))
    return {"url": f"/ui/share/{sandboxes.signer.sign(grant)}", "expires": grant.expires}


@router.get("/notebook/events", response_class=StreamingResponse)
async def follow_notebook(sandbox_id: str, sandboxes: Manager) -> StreamingResponse:
    """Server-sent events: `cells` (all so far), then `cell` (a run started), `count`,
    `output`, `end` (it finished), `keepalive`, and `gone` (the sandbox was killed)."""
    sandboxes.get(sandbox_id)

    messages = sandboxes.notebooks.follow(sandbox_id)  # 409 here, before the stream

    async def events() -> AsyncIterator[bytes]:
        async for message in messages:
            yield f"event: {message['type']}\ndata: {json.dumps(message)}\n\n".encode()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# An HTML result is shown in a frame of its own origin-less document: its scripts run (a chart
# may need them) but reach nothing, neither the page (the iframe's sandbox, and this CSP's, give
# it an opaque origin) nor the network (connect-src and the rest are 'none').
FRAME_POLICY = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; frame-ancestors 'self'"
)
# Tells the page how tall the result is (postMessage is the one way out of the frame).
FRAME_SIZER = (
    "<script>new ResizeObserver(() => parent.postMessage({interpreterFrameHeight: Math.ceil("
    "document.body.getBoundingClientRect().bottom)}, '*')).observe(document.body)</script>"
)
FRAME_STYLE = (  # as Jupyter shows a DataFrame; the result's own styles come after
    "<style>body{margin:4px;font:13px/1.4 system-ui,sans-serif;color:#1f2328}"
    "table{border-collapse:collapse;border:none}th,td{border:none;border-bottom:1px solid #d0d7de;"
    "padding:3px 10px;text-align:right}thead th{border-bottom:1px solid #8c959f}"
    "tbody tr:nth-child(odd){background:#f6f8fa}</style>"
)


@router.get("/cells/{cell_id}/output", response_class=FileResponse)
async def full_output(sandbox_id: str, cell_id: str, sandboxes: Manager) -> Response:
    """A truncated cell's whole output as text (up to 64 MiB), to download."""
    sandboxes.get(sandbox_id)
    path = sandboxes.notebooks.full_output(sandbox_id, cell_id)
    if path is None:
        raise NotFoundError(f"cell {cell_id!r} has no truncated output to download")
    return FileResponse(
        path, media_type="text/plain; charset=utf-8", filename=f"{cell_id}-output.txt"
    )


@router.get("/cells/{cell_id}/outputs/{index}/html", response_class=HTMLResponse)
async def html_output(sandbox_id: str, cell_id: str, index: int, sandboxes: Manager) -> Response:
    """One HTML result of a cell, as a document for the notebook view's sandboxed frame."""
    sandboxes.get(sandbox_id)
    cell = sandboxes.notebooks.cell(sandbox_id, cell_id)
    outputs = cell.outputs if cell is not None else []
    html = outputs[index].get("data", {}).get("text/html") if 0 <= index < len(outputs) else None
    if not isinstance(html, str):
        raise NotFoundError(f"cell {cell_id!r} has no HTML output {index}")
    return HTMLResponse(
        FRAME_STYLE + html + FRAME_SIZER,
        headers={
            "Content-Security-Policy": FRAME_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },  # fmt: skip
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
    body = await request.body()
    notebook = await run_notebook(sandboxes, sandbox_id, body, context_id, allow_errors)
    return Response(json.dumps(notebook, indent=1) + "\n", media_type=IPYNB)
