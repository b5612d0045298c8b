"""A sandbox's cells as a Jupyter notebook (nbformat 4, validated against its schema), and a
notebook's code cells read back to be run."""

from __future__ import annotations

import json
from typing import Any

import nbformat
from nbformat import v4

from interpreter.core.errors import InvalidRequestError
from interpreter.service.notebook import Cell

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
    """The cells (of one context, oldest first) as an nbformat 4 notebook."""
    name, display = KERNELSPECS.get(language, (language, language))
    notebook = v4.new_notebook(
        metadata={
            "kernelspec": {"name": name, "display_name": display, "language": language},
            "language_info": {"name": language},
        }
    )
    for cell in cells:
        code_cell = v4.new_code_cell(
            source=cell.code,
            execution_count=cell.execution_count,
            outputs=[_output(o, cell.execution_count) for o in cell.outputs],
            metadata={
                "execution": {
                    "iopub.execute_input": cell.started_at.isoformat(),
                    **({"shell.execute_reply": cell.ended_at.isoformat()} if cell.ended_at else {}),
                },
                "interpreter": {
                    "cell_id": cell.id,
                    "context_id": cell.context_id,
                    "status": cell.status,
                },
            },
        )
        notebook.cells.append(code_cell)
    nbformat.validate(notebook)
    return dict(notebook)


def _output(output: dict[str, Any], execution_count: int | None) -> Any:
    kind = output["output_type"]
    if kind == "stream":
        return v4.new_output("stream", name=output["name"], text=output["text"])
    if kind == "error":
        return v4.new_output(
            "error", ename=output["ename"], evalue=output["evalue"], traceback=output["traceback"]
        )
    data = {mime: _text(mime, value) for mime, value in output["data"].items()}
    if kind == "execute_result":
        return v4.new_output("execute_result", data=data, execution_count=execution_count)
    return v4.new_output("display_data", data=data)


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
