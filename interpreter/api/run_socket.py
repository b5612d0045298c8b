"""Runs over one websocket, ``/v1/sandboxes/{id}/runs``: ``POST .../execute`` without an HTTP
exchange per run (issue 19: run_code within a millisecond of a raw kernel).

An HTTP exchange through uvicorn costs ~0.6-0.7 ms here before any work of ours (the request's
head parsed, an ASGI scope built and passed through the app, a response's head and chunks);
a message on an open websocket ~0.4 (BENCHMARKS.md, "Eleventh pass"). So the blocking SDK
keeps a websocket per sandbox for its runs (the key checked once, at the upgrade, as every
route checks it), and each run on it is:

- the client's message: the ``Execute`` body, as ``POST .../execute`` takes it (text or
  binary; one over the bound of a request's body closes the socket, 1009: ``interpreter
  serve`` gives uvicorn that bound);
- the server's messages: the run's events, one JSON document each, exactly the lines of
  ``POST .../execute``, the last being ``{"type":"end"}``; or, if the run is refused before it
  starts (no such sandbox, a paused one that will not resume, a body that is not an
  ``Execute``), one message ``{"type":"refused","status":S,...}`` where ``...`` is the error
  body ``POST .../execute`` answers with status ``S``.

One run at a time: a message while a run is under way closes the socket (1008); a client gone
cancels its run as it does an HTTP one. The run itself is the route's (``routes.execute.lines``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from interpreter.api import errors
from interpreter.api.schemas import Execute
from interpreter.core.errors import InterpreterError

Start = Callable[[Execute], Awaitable[AsyncGenerator[bytes, None]]]
POLICY_VIOLATION = 1008  # a second run asked while one is under way
END = b'{"type":"end"}'
GONE: Message = {"type": "websocket.disconnect", "code": 1000}  # the socket is done


def refusal(status: int, body: dict[str, Any]) -> str:
    """The message of a run refused before it started: ``POST .../execute``'s error answer."""
    return json.dumps({"type": "refused", "status": status, **body}, separators=(",", ":"))


async def serve(websocket: WebSocket, start: Start) -> None:
    """Take runs on an accepted websocket until the client closes it; ``start(body)`` is the
    route's run (its lines, or what it raises: the run refused)."""
    try:
        await _serve(websocket, start)
    except WebSocketDisconnect:  # gone while a message went out: as a disconnect received
        pass


async def _serve(websocket: WebSocket, start: Start) -> None:
    pending: Message | None = None
    while True:
        message, pending = pending or await websocket.receive(), None
        if message["type"] == "websocket.disconnect":
            return
        request = _request(message)
        if isinstance(request, str):
            await websocket.send_text(request)
            continue
        try:
            events = await start(request)
        except InterpreterError as exc:
            answer = errors.body(type(exc).__name__, str(exc))
            await websocket.send_text(refusal(errors.status_of(exc), answer))
            continue
        outcome = await _run(websocket, events)
        if outcome is GONE:
            return
        pending = outcome


def _request(message: Message) -> Execute | str:
    """The run a message asks for, or its refusal (as FastAPI answers such a body)."""
    data = message.get("text")
    raw: bytes | str = data if data is not None else message.get("bytes") or b""
    try:
        return Execute.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        problem = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}
        problems = [{**problem, "input": {}, "ctx": {"error": exc.msg}}]
    except ValidationError as exc:
        found: list[Any] = exc.errors(include_url=False)
        problems = [{**e, "loc": ("body", *e["loc"])} for e in found]
    except (ValueError, RecursionError):  # not UTF-8, nested too deep
        return refusal(400, errors.body("HTTPError", "There was an error parsing the body"))
    return refusal(422, errors.invalid(RequestValidationError(problems)))


async def _run(websocket: WebSocket, events: AsyncGenerator[bytes, None]) -> Message | None:
    """Send a run's events and its end, watching the client meanwhile. ``GONE``: it went away
    or asked another run before this one ended (the run is cancelled, its clean-up runs, the
    socket is done); else what it sent once the end was out (its next run, or None). A send
    to a client gone raises ``WebSocketDisconnect`` (the run's clean-up ran)."""
    watcher = asyncio.ensure_future(websocket.receive())
    task = asyncio.current_task()
    assert task is not None
    ended = stopped = False

    def stop(done: asyncio.Future[Message]) -> None:
        nonlocal stopped
        if not ended and not done.cancelled():
            stopped = True
            task.cancel()

    watcher.add_done_callback(stop)
    try:
        async for line in events:
            await websocket.send_text(line[:-1].decode())  # each line without its newline
        await websocket.send_text(END.decode())
    except asyncio.CancelledError:
        if not stopped:
            raise
    except WebSocketDisconnect:  # before the watcher heard of it
        watcher.cancel()
        raise
    finally:
        ended = True
        if stopped:
            task.uncancel()
        await events.aclose()  # its clean-up (the run interrupted) now, not when collected
    if not watcher.done():
        watcher.cancel()
        return None
    if watcher.cancelled() or watcher.exception() is not None:
        return GONE
    message = watcher.result()
    if stopped and message["type"] != "websocket.disconnect":
        await websocket.close(POLICY_VIOLATION, "one run at a time on a run socket")
    return GONE if stopped else message
