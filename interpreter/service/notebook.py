"""Every execution of a sandbox as a notebook cell: recorded as it runs, whatever client sent
it (native SDK, E2B SDKs, MCP, the page), broadcast live to the notebook view, and kept.

One cell per run: its code, language, context, execution count, times, status, and its outputs
as nbformat 4 output dicts (consecutive stream text merged). A cell keeps at most
``CELL_OUTPUT_BYTES`` of output (the rest is counted and marked: a 50 MB output keeps the page
responsive); a sandbox keeps its last ``MAX_CELLS``, ``NOTEBOOK_BYTES`` in all. Kept in
``HOME/notebooks/<id>.jsonl``,
one finished cell a line, so a restart of the front end (or a pause) loses none; the folder is
the host's alone (nothing of a sandbox's is read here), and still read bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from interpreter.core.errors import ConflictError
from interpreter.core.events import CellError, Event, ExecutionCount, Fault, Result, Stderr, Stdout
from interpreter.core.models import ContextRecord

log = logging.getLogger(__name__)

CELL_OUTPUT_BYTES = 1 << 20  # per cell, in history and on the page
MAX_CELLS = 1000  # per sandbox
NOTEBOOK_BYTES = 32 << 20  # per sandbox: the oldest cells go first
FULL_OUTPUT_BYTES = 64 << 20  # a truncated cell's whole output, as text, kept for download
MAX_FILE_BYTES = 3 * NOTEBOOK_BYTES  # rewritten (the oldest dropped) past 2 x NOTEBOOK_BYTES
KEEPALIVE_SECONDS = 15.0
VIEWER_BYTES = 16 << 20  # a viewer this far behind is dropped (told so: it reconnects)
MAX_VIEWERS = 16  # per sandbox: views open at once

MIME = {
    "text": "text/plain", "html": "text/html", "markdown": "text/markdown",
    "svg": "image/svg+xml", "png": "image/png", "jpeg": "image/jpeg", "pdf": "application/pdf",
    "latex": "text/latex", "json_": "application/json", "javascript": "application/javascript",
}  # fmt: skip


class Cell(BaseModel):
    id: str
    context_id: str
    language: str
    code: str
    execution_count: int | None = None
    started_at: datetime
    ended_at: datetime | None = None
    status: Literal["running", "ok", "error", "failed"] = "running"
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    truncated_bytes: int = 0  # output beyond CELL_OUTPUT_BYTES, not kept
    output_bytes: int = 0  # of outputs (their JSON)

    @property
    def kept_bytes(self) -> int:
        return len(self.code) + self.output_bytes


def output_of(event: Event, execution_count: int | None) -> dict[str, Any] | None:
    """An event as an nbformat 4 output (None: it is not one)."""
    if isinstance(event, Stdout | Stderr):
        return {"output_type": "stream", "name": event.type, "text": event.text}
    if isinstance(event, Result):
        data: dict[str, Any] = {
            mime: value
            for field, mime in MIME.items()
            if (value := getattr(event, field)) is not None
        }
        data.update({k: v for k, v in event.extra.items() if isinstance(k, str) and "/" in k})
        if event.is_main_result:
            return {"output_type": "execute_result", "execution_count": execution_count,
                    "data": data, "metadata": {}}  # fmt: skip
        return {"output_type": "display_data", "data": data, "metadata": {}}
    if isinstance(event, CellError):
        return {"output_type": "error", "ename": event.name, "evalue": event.value,
                "traceback": event.traceback.splitlines()}  # fmt: skip
    if isinstance(event, Fault):
        message = event.error.get("message", "")
        return {"output_type": "stream", "name": "stderr", "text": f"[{message}]\n"}
    return None


def new_cell_id() -> str:
    return secrets.token_hex(8)


def _size(output: dict[str, Any]) -> int:
    return len(json.dumps(output, separators=(",", ":")))


class Cells(deque[Cell]):
    """A sandbox's last MAX_CELLS cells, oldest first, and ``kept``: the bytes they hold, kept
    up to date as cells come and go and outputs are added (a sum at every run's end was O(cells)
    of the front end's CPU per run)."""

    def __init__(self, cells: list[Cell]) -> None:
        super().__init__(cells, maxlen=MAX_CELLS)
        self.kept = sum(cell.kept_bytes for cell in self)

    def append(self, cell: Cell) -> None:
        if len(self) == MAX_CELLS:
            self.kept -= self[0].kept_bytes  # the oldest goes out the other end
        super().append(cell)
        self.kept += cell.kept_bytes

    def popleft(self) -> Cell:
        cell = super().popleft()
        self.kept -= cell.kept_bytes
        return cell


def _trim(cells: Cells) -> list[Cell]:
    """Drop the oldest finished cells while the notebook holds more than NOTEBOOK_BYTES."""
    dropped = []
    while cells.kept > NOTEBOOK_BYTES and len(cells) > 1 and cells[0].ended_at is not None:
        dropped.append(cells.popleft())
    return dropped


def plain(output: dict[str, Any]) -> str:
    """An output as text: what a download of a cell's whole output holds."""
    if output["output_type"] == "stream":
        return str(output["text"])
    if output["output_type"] == "error":
        return "\n".join(output["traceback"]) + "\n"
    text = output.get("data", {}).get("text/plain")
    return f"{text}\n" if isinstance(text, str) else f"[{', '.join(output.get('data', {}))}]\n"


class Viewer:
    """One open view's messages not yet sent, bounded in bytes (an `end` holds a whole cell)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[dict[str, Any], int]] = asyncio.Queue()
        self.bytes = 0

    def put(self, message: dict[str, Any], size: int) -> bool:
        if self.bytes + size > VIEWER_BYTES:
            self.queue.put_nowait(({"type": "gone", "why": "this view fell behind: reload"}, 0))
            return False
        self.bytes += size
        self.queue.put_nowait((message, size))
        return True

    async def get(self) -> dict[str, Any]:
        message, size = await self.queue.get()
        self.bytes -= size
        return message


class Notebooks:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cells: dict[str, Cells] = {}
        self._subscribers: dict[str, set[Viewer]] = {}
        self._full: dict[str, tuple[Any, int]] = {}  # cell id -> (open file, bytes written)

    # -- reading --------------------------------------------------------------------------
    def cells(self, sandbox_id: str, context_id: str | None = None) -> list[Cell]:
        return [
            cell
            for cell in self._loaded(sandbox_id)
            if context_id is None or cell.context_id == context_id
        ]

    def cell(self, sandbox_id: str, cell_id: str) -> Cell | None:
        return next((c for c in self._loaded(sandbox_id) if c.id == cell_id), None)

    def follow(self, sandbox_id: str) -> AsyncIterator[dict[str, Any]]:
        """The cells so far (one ``cells`` message), then each change as it happens;
        ConflictError now (before any message) if the sandbox has MAX_VIEWERS views open."""
        if len(self._subscribers.get(sandbox_id, ())) >= MAX_VIEWERS:
            raise ConflictError(f"{MAX_VIEWERS} views of this sandbox are open already")
        return self._follow(sandbox_id)

    async def _follow(self, sandbox_id: str) -> AsyncIterator[dict[str, Any]]:
        # Counted from its first message on: a stream never started holds nothing.
        viewers = self._subscribers.setdefault(sandbox_id, set())
        viewer = Viewer()
        viewers.add(viewer)
        try:
            cells = [c.model_dump(mode="json") for c in self._loaded(sandbox_id)]
            yield {"type": "cells", "cells": cells}
            while True:
                try:
                    message = await asyncio.wait_for(viewer.get(), KEEPALIVE_SECONDS)
                except TimeoutError:  # a line now and then keeps proxies from closing the view
                    message = {"type": "keepalive"}
                yield message
                if message["type"] == "gone":
                    return
        finally:
            viewers.discard(viewer)
            if not viewers and self._subscribers.get(sandbox_id) is viewers:
                del self._subscribers[sandbox_id]

    # -- recording ------------------------------------------------------------------------
    async def record(
        self,
        context: ContextRecord,
        code: str,
        events: AsyncIterator[Event],
        cell_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """``events``, passed on unchanged, with the cell they make recorded on the way (its id
        ``cell_id``, if the caller wants to find it again)."""
        cell = Cell(
            id=cell_id or new_cell_id(),
            context_id=context.id,
            language=context.language,
            code=code,
            started_at=datetime.now(UTC),
        )
        cells = self._loaded(context.sandbox_id)
        cells.append(cell)
        self._publish_cell(context.sandbox_id, "cell", cell)
        failed = True
        try:
            async for event in events:
                self._add(context.sandbox_id, cells, cell, event)
                yield event
            failed = False
        finally:
            self._drop_full_outputs(context.sandbox_id, _trim(cells))
            if (full := self._full.pop(cell.id, None)) is not None:
                full[0].close()
            cell.ended_at = datetime.now(UTC)
            errors = any(o["output_type"] == "error" for o in cell.outputs)
            cell.status = "failed" if failed else "error" if errors else "ok"
            self._publish_cell(context.sandbox_id, "end", cell)
            # Written once the run's answer is out (~0.15 ms of every run: issue 19), unless
            # the sandbox is forgotten by then.
            try:
                asyncio.get_running_loop().call_soon(self._keep_known, context.sandbox_id, cell)
            except RuntimeError:  # finalised outside a running loop: written now
                self._keep_known(context.sandbox_id, cell)

    def _add(self, sandbox_id: str, cells: Cells, cell: Cell, event: Event) -> None:
        if isinstance(event, ExecutionCount):
            cell.execution_count = event.execution_count
            self._publish(sandbox_id, {"type": "count", "cell_id": cell.id,
                                       "execution_count": event.execution_count})  # fmt: skip
            return
        if isinstance(event, Fault):
            cell.status = "failed"
        output = output_of(event, cell.execution_count)
        if output is None:
            return
        size = _size(output)
        if cell.truncated_bytes or cell.output_bytes + size > CELL_OUTPUT_BYTES:
            first = not cell.truncated_bytes
            cell.truncated_bytes += size
            self._write_full(sandbox_id, cell, output)
            if first:
                marker = {"output_type": "stream", "name": "stderr",
                          "text": "\n[output truncated: more than 1 MiB]\n"}  # fmt: skip
                cell.outputs.append(marker)
                self._publish(sandbox_id, {"type": "output", "cell_id": cell.id, "output": marker})
            return
        last = cell.outputs[-1] if cell.outputs else None
        if (
            last is not None
            and output["output_type"] == "stream"
            and last["output_type"] == "stream"
            and last["name"] == output["name"]
        ):
            last["text"] += output["text"]
        else:
            cell.outputs.append(output)
        cell.output_bytes += size
        cells.kept += size
        self._publish(sandbox_id, {"type": "output", "cell_id": cell.id, "output": output})

    def _publish_cell(self, sandbox_id: str, kind: str, cell: Cell) -> None:
        # Every run passes here twice: the cell's dump only when someone is watching.
        if self._subscribers.get(sandbox_id):
            self._publish(sandbox_id, {"type": kind, "cell": cell.model_dump(mode="json")})

    def _publish(self, sandbox_id: str, message: dict[str, Any]) -> None:
        viewers = self._subscribers.get(sandbox_id)
        if not viewers:
            return
        size = len(json.dumps(message, separators=(",", ":"), default=str))
        for viewer in list(viewers):
            if not viewer.put(message, size):  # too slow a viewer: it is told, and reconnects
                viewers.discard(viewer)

    # -- keeping --------------------------------------------------------------------------
    def _path(self, sandbox_id: str) -> Path:
        return self.folder / f"{sandbox_id}.jsonl"

    def _loaded(self, sandbox_id: str) -> Cells:
        cells = self._cells.get(sandbox_id)
        if cells is None:
            cells = self._cells[sandbox_id] = Cells(self._read(sandbox_id))
            self._drop_full_outputs(sandbox_id, _trim(cells))
        return cells

    def _read(self, sandbox_id: str) -> list[Cell]:
        try:
            fd = os.open(self._path(sandbox_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        with os.fdopen(fd, "rb") as file:
            data = file.read(MAX_FILE_BYTES)
        cells = []
        for line in data.splitlines():
            try:
                cells.append(Cell.model_validate_json(line))
            except ValidationError:  # a line cut short by a crash
                continue
        return cells[-MAX_CELLS:]

    def _keep_known(self, sandbox_id: str, cell: Cell) -> None:
        if sandbox_id in self._cells:
            self._keep(sandbox_id, cell)

    def _keep(self, sandbox_id: str, cell: Cell) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            cells = self._loaded(sandbox_id)
            path = self._path(sandbox_id)
            if path.exists() and path.stat().st_size > 2 * NOTEBOOK_BYTES:
                self._rewrite(path, cells)  # the oldest are gone from memory: from the file too
                return
            with open(path, "a", encoding="utf-8") as file:
                file.write(cell.model_dump_json() + "\n")
        except OSError as exc:  # the view's history, not the run: the run goes on
            log.warning("notebook of sandbox %s not kept: %s", sandbox_id, exc)

    def _rewrite(self, path: Path, cells: deque[Cell]) -> None:
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            file.writelines(c.model_dump_json() + "\n" for c in cells if c.ended_at is not None)
        temporary.replace(path)

    def forget(self, sandbox_id: str) -> None:
        """The sandbox is gone: its cells go, and its viewers are told."""
        for cell in self._cells.pop(sandbox_id, ()):
            if (full := self._full.pop(cell.id, None)) is not None:
                full[0].close()
        self._publish(sandbox_id, {"type": "gone", "why": "the sandbox was killed"})
        with contextlib.suppress(FileNotFoundError):
            self._path(sandbox_id).unlink()
        shutil.rmtree(self.folder / sandbox_id, ignore_errors=True)

    def prune(self, keep: set[str]) -> None:
        """Forget the notebooks of every sandbox not in ``keep``."""
        if not self.folder.is_dir():
            return
        for entry in self.folder.iterdir():
            sandbox_id = entry.name.removesuffix(".jsonl")
            if sandbox_id not in keep and not entry.name.endswith(".tmp"):
                self.forget(sandbox_id)

    # -- a truncated cell's whole output ----------------------------------------------------
    def full_output(self, sandbox_id: str, cell_id: str) -> Path | None:
        """The file holding a truncated cell's whole output as text (None: it has none)."""
        cell = self.cell(sandbox_id, cell_id)
        if cell is None or not cell.truncated_bytes:
            return None
        path = self.folder / sandbox_id / f"{cell.id}.txt"
        return path if path.is_file() else None

    def _write_full(self, sandbox_id: str, cell: Cell, output: dict[str, Any]) -> None:
        entry = self._full.get(cell.id)
        try:
            if entry is None:  # the first output past the limit: what was kept goes first
                folder = self.folder / sandbox_id
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                file = open(folder / f"{cell.id}.txt", "w", encoding="utf-8")  # noqa: SIM115
                written = file.write("".join(plain(o) for o in cell.outputs))
                entry = self._full[cell.id] = (file, written)
            file, written = entry
            if written < FULL_OUTPUT_BYTES:
                text = plain(output)[: FULL_OUTPUT_BYTES - written]
                written += file.write(text)
                if written >= FULL_OUTPUT_BYTES:
                    file.write(f"\n[more output not kept: past {FULL_OUTPUT_BYTES >> 20} MiB]\n")
                self._full[cell.id] = (file, written)
        except OSError as exc:
            log.warning("whole output of cell %s not kept: %s", cell.id, exc)

    def _drop_full_outputs(self, sandbox_id: str, cells: list[Cell]) -> None:
        for cell in cells:
            if cell.truncated_bytes:
                with contextlib.suppress(OSError):
                    (self.folder / sandbox_id / f"{cell.id}.txt").unlink()
