"""The notebook's running byte count (``Cells.kept``) stays the sum of its cells' bytes as cells
come in past MAX_CELLS, outputs are added and the oldest are trimmed."""

from __future__ import annotations

from datetime import UTC, datetime

from interpreter.service import notebook


def cell(name: str, code_bytes: int) -> notebook.Cell:
    now = datetime.now(UTC)
    return notebook.Cell(id=name, context_id="c", language="python", code="x" * code_bytes,
                         started_at=now, ended_at=now)  # fmt: skip


def exact(cells: notebook.Cells) -> int:
    return sum(c.kept_bytes for c in cells)


def test_kept_follows_appends_evictions_outputs_and_trims() -> None:
    cells = notebook.Cells([cell(f"old{i}", 10) for i in range(5)])
    assert cells.kept == exact(cells) == 50
    for i in range(notebook.MAX_CELLS + 3):  # the first ones go out the other end
        cells.append(cell(f"new{i}", 7))
    assert len(cells) == notebook.MAX_CELLS
    assert cells.kept == exact(cells) == 7 * notebook.MAX_CELLS
    cells[-1].output_bytes += 5  # as Notebooks._add does, with the count
    cells.kept += 5
    cells.append(cell("big", notebook.NOTEBOOK_BYTES))
    dropped = notebook._trim(cells)
    assert len(dropped) == notebook.MAX_CELLS - 1 and [c.id for c in cells] == ["big"]
    assert cells.kept == exact(cells) == notebook.NOTEBOOK_BYTES
