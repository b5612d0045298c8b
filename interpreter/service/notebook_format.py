"""A sandbox's cells as a Jupyter notebook (nbformat 4, validated against its schema), and a
notebook's code cells read back to be run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import nbformat

from interpreter.core.errors import InvalidRequestError
from interpreter.core.events import CellError, Event
from interpreter.core.models import ContextRecord
from interpreter.service.notebook import Cell, Notebooks, new_cell_id

MAX_IMPORT_CELLS = 1000
KERNELSPECS = {  # the kernelspec JupyterLab and nbclient expect for each of our languages
    "python": ("python3", "Python 3"),
    "javascript": ("javascript", "JavaScript (Deno)"),
    "typescript": ("typescript", "TypeScript (Deno)"),
    "bash": ("bash", "Bash"),
    "r": ("ir", "R"),
    "java": ("java", "Java"),
}
LANGUAGES = {name: language for language, (name, _) in KERNELSPECS.items()}


def to_ipynb(cells: list[Cell], language: str) -> dict[str, Any]:
    """The cells (of one context, oldest first) as an nbformat 4 notebook, validated once (as
    plain dicts: nbformat's constructors validate each output, a minute for 100,000). Slow
    enough for a big notebook (seconds) to be called in a thread."""
    name, display = KERNELSPECS.get(language, (language, language))
    notebook: dict[str, Any] = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": name, "display_name": display, "language": language},
            "language_info": {"name": language},
        },
        "cells": [_cell(cell) for cell in cells],
    }
    nbformat.validate(nbformat.from_dict(notebook))
    return notebook


def _cell(cell: Cell) -> dict[str, Any]:
    execution = {"iopub.execute_input": cell.started_at.isoformat()}
    if cell.ended_at is not None:
        execution["shell.execute_reply"] = cell.ended_at.isoformat()
    return {
        "cell_type": "code",
        "id": cell.id,
        "source": cell.code,
        "execution_count": cell.execution_count,
        "outputs": [_output(o, cell.execution_count) for o in cell.outputs],
        "metadata": {
            "execution": execution,
            "interpreter": {"context_id": cell.context_id, "status": cell.status},
        },
    }


def _output(output: dict[str, Any], execution_count: int | None) -> dict[str, Any]:
    kind = output["output_type"]
    if kind == "stream":
        return {"output_type": "stream", "name": output["name"], "text": output["text"]}
    if kind == "error":
        return {"output_type": "error", "ename": output["ename"], "evalue": output["evalue"],
                "traceback": output["traceback"]}  # fmt: skip
    data = {mime: _text(mime, value) for mime, value in output["data"].items()}
    if kind == "execute_result":
        return {"output_type": "execute_result", "execution_count": execution_count,
                "data": data, "metadata": {}}  # fmt: skip
    return {"output_type": "display_data", "data": data, "metadata": {}}


def _text(mime: str, value: Any) -> Any:
    """JSON mimes stay structured; every other one is a string in a notebook."""
    if mime == "application/json" or mime.endswith("+json"):
        return value
    return value if isinstance(value, str) else json.dumps(value)


def code_cells(body: bytes) -> tuple[str | None, list[str]]:
    """The language (from its kernelspec; None: the sandbox's default) and code cells of an
    .ipynb to import; InvalidRequestError naming what is wrong with it."""
    try:
        notebook = nbformat.reads(body.decode("utf-8"), as_version=4)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"the notebook is not UTF-8: {exc}") from None
    except Exception as exc:  # nbformat raises JSON, schema and version errors of many types
        raise InvalidRequestError(f"not a Jupyter notebook: {exc}") from None
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise InvalidRequestError(f"the notebook is not valid nbformat 4: {exc.message}") from None
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    if len(sources) > MAX_IMPORT_CELLS:
        raise InvalidRequestError(f"the notebook has more than {MAX_IMPORT_CELLS} code cells")
    spec = notebook.metadata.get("kernelspec", {})
    name = spec.get("name") if isinstance(spec, dict) else None
    return LANGUAGES.get(name) if isinstance(name, str) else None, sources


class Runs(Protocol):
    notebooks: Notebooks

    async def prepare_run(
        self, sandbox_id: str, language: str | None = None, context_id: str | None = None
    ) -> ContextRecord: ...

    def run(
        self,
        context: ContextRecord,
        code: str,
        envs: dict[str, str] | None = None,
        timeout: float | None = None,
        cell_id: str | None = None,
    ) -> AsyncIterator[Event]: ...


async def run_notebook(
    sandboxes: Runs, sandbox_id: str, body: bytes, context_id: str | None, allow_errors: bool
) -> dict[str, Any]:
    """Run an .ipynb's code cells in order in one context (stopping at the first that raises
    unless ``allow_errors``, as nbclient does); the notebook of the cells run."""
    language, sources = await asyncio.to_thread(code_cells, body)
    context = await sandboxes.prepare_run(sandbox_id, None if context_id else language, context_id)
    ran: list[Cell] = []
    for source in sources:
        raised, cell_id = False, new_cell_id()
        async for event in sandboxes.run(context, source, cell_id=cell_id):
            raised = raised or isinstance(event, CellError)
        if (cell := sandboxes.notebooks.cell(sandbox_id, cell_id)) is not None:
            ran.append(cell)
        if raised and not allow_errors:
            break
    return await asyncio.to_thread(to_ipynb, ran, context.language)
