"""An agent served inside a sandbox by AWS Bedrock AgentCore's HTTP protocol contract.

    from interpreter_sdk.agent_runtime import AgentRuntimeApp
    app = AgentRuntimeApp()

    @app.entrypoint
    def invoke(payload, context):  # context: optional (session id, request headers)
        return {"answer": payload["prompt"].upper()}

    app.run()  # port 8080: POST /invocations, GET /ping

An entrypoint returns a JSON value (answered as ``application/json``) or a generator, sync or
async (answered as server-sent events, ``data: <json>`` per item, each sent as it is made).
An exception answers 500 with ``{"error": {"type", "message", "traceback"}}`` (mid-stream:
an ``event: error`` with the same body, then the stream ends). ``GET /ping`` answers
``{"status": "Healthy" | "HealthyBusy", "time_of_last_update": <unix seconds>}``: busy while
an invocation runs, or what an ``@app.ping`` function returns.

This module runs with the template's Python: it imports the standard library only (the
agent's template carries it on ``PYTHONPATH``, see ``interpreter agent configure``). Each
request gets a thread (a ping answers during a long invocation); async entrypoints all run on
one event loop of their own, so their state is shared as in any asyncio program.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["AgentRuntimeApp", "PingStatus", "RequestContext"]

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
MAX_PAYLOAD = 8 << 20  # the service sends at most 1 MiB; this bounds anyone else on loopback


class PingStatus:
    HEALTHY = "Healthy"
    HEALTHY_BUSY = "HealthyBusy"


@dataclass(frozen=True)
class RequestContext:
    """What an entrypoint may take besides the payload (AgentCore's names)."""

    session_id: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)


class AgentRuntimeApp:
    def __init__(self, debug: bool = False) -> None:
        self.debug = debug
        self._entrypoint: Callable[..., Any] | None = None
        self._ping: Callable[[], Any] | None = None
        self._busy = 0
        self._lock = threading.Lock()
        self._last_status = PingStatus.HEALTHY
        self._last_change = int(time.time())
        self._loop: asyncio.AbstractEventLoop | None = None

    def entrypoint(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """The function ``POST /invocations`` calls: ``func(payload)`` or ``func(payload,
        context)``."""
        self._entrypoint = func
        return func

    def ping(self, func: Callable[[], Any]) -> Callable[[], Any]:
        """A function whose answer ("Healthy" or "HealthyBusy") ``GET /ping`` reports."""
        self._ping = func
        return func

    def status(self) -> str:
        if self._ping is not None:
            answer = str(self._ping())
            status = (
                PingStatus.HEALTHY_BUSY if answer == PingStatus.HEALTHY_BUSY else PingStatus.HEALTHY
            )
        else:
            status = PingStatus.HEALTHY_BUSY if self._busy else PingStatus.HEALTHY
        with self._lock:
            if status != self._last_status:
                self._last_status, self._last_change = status, int(time.time())
        return status

    def run(self, port: int = 8080, host: str = "0.0.0.0") -> None:
        if self._entrypoint is None:
            raise RuntimeError("no @app.entrypoint: decorate the function that answers")
        app = self

        class Handler(_Handler):
            runtime = app

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        print(f"agent runtime listening on {host}:{port}", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()

    # -- calling the entrypoint ---------------------------------------------------------------
    def _call(self, payload: Any, context: RequestContext) -> Any:
        func = self._entrypoint
        assert func is not None
        takes_context = len(inspect.signature(func).parameters) >= 2
        outcome = func(payload, context) if takes_context else func(payload)
        if inspect.iscoroutine(outcome):
            return self._on_loop(outcome)
        return outcome

    def _on_loop(self, awaitable: Any) -> Any:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, daemon=True).start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(_awaited(awaitable), loop).result()

    def _items(self, outcome: Any) -> Iterator[Any] | None:
        """The items of a generator's answer (None: a plain value)."""
        if inspect.isasyncgen(outcome):
            return self._async_items(outcome)
        if inspect.isgenerator(outcome):
            return outcome
        return None

    def _async_items(self, agen: Any) -> Iterator[Any]:
        while True:
            try:
                yield self._on_loop(agen.__anext__())
            except StopAsyncIteration:
                return


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _error_body(exc: BaseException) -> bytes:
    return _json(
        {
            "error": {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": "".join(traceback.format_exception(exc)),
            }
        }
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


class _Handler(BaseHTTPRequestHandler):
    runtime: AgentRuntimeApp
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.runtime.debug:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/ping":
            self._answer(404, _json({"error": {"type": "NotFound", "message": self.path}}))
            return
        status = self.runtime.status()
        body = {"status": status, "time_of_last_update": self.runtime._last_change}
        self._answer(200, _json(body))

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/invocations":
            self._answer(404, _json({"error": {"type": "NotFound", "message": self.path}}))
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD:
            self._answer(413, _json({"error": {"type": "PayloadTooLarge", "message": ""}}))
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            self._answer(400, _json({"error": {"type": "InvalidJSON", "message": str(exc)}}))
            return
        headers = {k: v for k, v in self.headers.items()}
        context = RequestContext(self.headers.get(SESSION_HEADER), headers)
        runtime = self.runtime
        with runtime._lock:
            runtime._busy += 1
        try:
            self._invoke(payload, context)
        finally:
            with runtime._lock:
                runtime._busy -= 1

    def _invoke(self, payload: Any, context: RequestContext) -> None:
        try:
            outcome = self.runtime._call(payload, context)
            items = self.runtime._items(outcome)
            # The first item before the head: a generator failing at once answers 500.
            first = next(items, _END) if items is not None else _END
        except Exception as exc:
            self._answer(500, _error_body(exc))
            return
        if items is None:
            try:
                body = _json(outcome)
            except (TypeError, ValueError) as exc:
                self._answer(500, _error_body(exc))
                return
            self._answer(200, body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            item = first
            while item is not _END:
                self._chunk(b"data: " + _json(item) + b"\n\n")
                item = next(items, _END)
        except (BrokenPipeError, ConnectionResetError):
            return  # the caller left: the generator is dropped
        except Exception as exc:
            self._chunk(b"event: error\ndata: " + _error_body(exc) + b"\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(body)


_END = object()
