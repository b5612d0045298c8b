"""A sandbox's kernels for Jupyter's own clients (JupyterLab with ``--gateway-url``,
jupyter_client, nbclient): the Kernel Gateway protocol of its gateway, passed through.

REST requests go as they are, to the few paths a gateway client uses; each kernel websocket is
one of its own to the kernel, relayed both ways, and tapped: every ``execute_request`` a client
sends is a cell of the notebook view (its outputs are the iopub messages that answer it), as a
run through the API is. The sandbox's contexts are its kernels, so a client sees the variables
the agent's ``run_code`` made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from interpreter.core.errors import ConflictError, NotFoundError
from interpreter.core.events import Event
from interpreter.core.models import ContextRecord
from interpreter.execution.messages import to_event
from interpreter.service.live import LiveSandbox
from interpreter.service.notebook import Notebooks

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PATHS = re.compile(  # and a kernelspec's resources (its logos), as a gateway client asks
    rf"api(/status|/kernelspecs(/[\w.-]+)?|/kernels(/{UUID}(/interrupt|/restart)?)?)?"
    r"|kernelspecs/[\w.-]+/[\w.-]+",
)
MAX_OPEN_CELLS = 100  # per websocket: executions sent and not yet answered


class Sandboxes(Protocol):
    notebooks: Notebooks

    async def live_sandbox(self, sandbox_id: str) -> LiveSandbox: ...

    def list_contexts(self, sandbox_id: str) -> list[ContextRecord]: ...

    async def restart_context(self, sandbox_id: str, context_id: str) -> None: ...


class JupyterAttach:
    def __init__(self, sandboxes: Sandboxes) -> None:
        self.sandboxes = sandboxes

    async def rest(
        self, sandbox_id: str, method: str, path: str, content: bytes, params: dict[str, str]
    ) -> tuple[int, str, bytes]:
        if PATHS.fullmatch(path) is None:
            raise NotFoundError(f"/{path} is not part of the Jupyter gateway protocol here")
        live = await self.sandboxes.live_sandbox(sandbox_id)
        parts = path.split("/")
        context = self._context_of(sandbox_id, parts[2]) if len(parts) >= 3 else None
        if context is not None and method == "DELETE" and len(parts) == 3:
            raise ConflictError(
                f"kernel {parts[2]} is the sandbox's {context.language} context {context.id}: "
                "remove the context through the API"
            )
        if context is not None and parts[3:] == ["restart"] and method == "POST":
            # The service's restart: the context's working folder and variables set up again.
            await self.sandboxes.restart_context(sandbox_id, context.id)
            path = "/".join(parts[:3])
            method, content = "GET", b""
        return await live.kernels.gateway.forward(method, f"/{path}", content or None, params)

    async def channels(self, sandbox_id: str, kernel_id: str) -> Channels:
        live = await self.sandboxes.live_sandbox(sandbox_id)
        ws = await live.kernels.gateway.open_channels(kernel_id)
        context = self._context_of(sandbox_id, kernel_id)
        if context is None:  # a kernel a Jupyter client started: its cells are its own
            context = ContextRecord(
                id=kernel_id, sandbox_id=sandbox_id, language="python", cwd="",
                created_at=datetime.now(UTC),
            )  # fmt: skip
        return Channels(ws, context, self.sandboxes.notebooks)

    def _context_of(self, sandbox_id: str, kernel_id: str) -> ContextRecord | None:
        contexts = self.sandboxes.list_contexts(sandbox_id)
        return next((c for c in contexts if c.kernel_id == kernel_id), None)


class Channels:
    """One client's websocket to a kernel, relayed, with its executions recorded as cells."""

    def __init__(self, ws: ClientConnection, context: ContextRecord, notebooks: Notebooks):
        self.ws, self.context, self.notebooks = ws, context, notebooks
        self._cells: dict[str, asyncio.Queue[Event | None]] = {}
        self._recorders: set[asyncio.Task[None]] = set()

    async def send(self, frame: str | bytes) -> None:
        """A client's frame, to the kernel (binary frames, Jupyter's buffers, as they are)."""
        if isinstance(frame, bytes):
            await self.ws.send(frame)
            return
        text = frame
        msg = _parsed(text) or {}
        header, content = msg.get("header"), msg.get("content")
        if (
            isinstance(header, dict)
            and header.get("msg_type") == "execute_request"
            and isinstance(content, dict)
            and len(self._cells) < MAX_OPEN_CELLS
            and not content.get("silent")
        ):
            code = content.get("code")
            msg_id = header.get("msg_id")
            if isinstance(code, str) and isinstance(msg_id, str) and msg_id not in self._cells:
                self._start_cell(msg_id, code)
        await self.ws.send(text)

    async def received(self) -> AsyncIterator[str | bytes]:
        """The kernel's frames, for the client; ends when the kernel's side closes."""
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    self._tap(frame)
                yield frame
        except WebSocketException:
            return

    async def close(self) -> None:
        for queue in self._cells.values():
            queue.put_nowait(None)
        self._cells.clear()
        with contextlib.suppress(WebSocketException):
            await self.ws.close()
        for task in list(self._recorders):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5.0)

    def _start_cell(self, msg_id: str, code: str) -> None:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._cells[msg_id] = queue

        async def events() -> AsyncIterator[Event]:
            while (event := await queue.get()) is not None:
                yield event

        async def record() -> None:
            async for _ in self.notebooks.record(self.context, code, events()):
                pass

        task = asyncio.create_task(record())
        self._recorders.add(task)
        task.add_done_callback(self._recorders.discard)

    def _tap(self, text: str) -> None:
        if not self._cells:
            return
        msg = _parsed(text)
        parent = msg.get("parent_header") if msg else None
        queue = self._cells.get(parent.get("msg_id", "")) if isinstance(parent, dict) else None
        if queue is None or msg is None:
            return
        header = msg.get("header")
        kind = header.get("msg_type") if isinstance(header, dict) else None
        if kind == "status" and isinstance(msg.get("content"), dict):
            if msg["content"].get("execution_state") == "idle":  # the execution is over
                queue.put_nowait(None)
                self._cells.pop(parent["msg_id"], None)  # type: ignore[index]
            return
        with contextlib.suppress(Exception):  # a message of a form we do not know: not shown
            if (event := to_event(msg)) is not None:
                queue.put_nowait(event)


def _parsed(text: str) -> dict[str, Any] | None:
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None
