"""AsyncSandbox's runs over websockets (``/v1/sandboxes/{id}/runs``), on websockets' asyncio
client: the asyncio twin of ``_run_sockets``, speaking the same protocol (the front end's
``api/run_socket.py``).

Over httpx, an asyncio ``run_code('1+1')`` cost ~3.6 ms above the raw kernel here, beyond both
goals of issue 19 (p50 within 1 ms, p99 within 3); httpx's HTTP/1.1 (h11, httpcore) is most of
it (BENCHMARKS.md, "Thirteenth pass"). So after a sandbox's first run (httpx's, on the create's
kept connection: no upgrade before the pool's create → first result), its runs go over kept
websockets, one run at a time on each. A server that refuses the upgrade (one older than the
route) is spoken to over ``POST .../execute`` from then on. websockets answers the server's
pings (uvicorn's, every 20 s) while the event loop runs; a socket that sat idle long enough
for a ping to go unanswered (a loop blocked, or not running between calls) is given the loop
twice before it is taken, so that a close the server sent meanwhile is seen and the socket
dropped, not handed a run. A run cancelled (or cut short by an error) closes its socket: the
server interrupts the run, as it does when an HTTP client goes away.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.protocol import State

from interpreter_sdk import _base, _runs_sync

END = '{"type":"end"}'  # a run's last message
REFUSED = '"refused"'  # the type of a run refused before it started: its only message
MAX_IDLE = 8  # sockets kept for runs under way at once
QUIET = 10.0  # seconds idle after which a socket may have missed a ping (uvicorn's: 20 s)


class RunSockets:
    """Kept run sockets to one server, each used by one run at a time (one event loop's)."""

    def __init__(self, config: _base.ConnectionConfig) -> None:
        self._config = config
        self.refused = False  # the server has no run socket: POST .../execute it is
        self._idle: dict[str, list[tuple[ClientConnection, float]]] = {}
        self._closed = False

    async def lines(
        self, url: httpx.URL, body: dict[str, Any], timeout: float | None
    ) -> AsyncGenerator[str, None] | None:
        """The run's event lines (its request sent at the first); None: the server refused the
        upgrade (``refused`` is set)."""
        data = _runs_sync.encoded(body).decode()  # first: what it refuses (a NaN) takes no socket
        target = str(url.copy_with(scheme="wss" if url.scheme == "https" else "ws"))
        socket = await self._take(target) or await self._open(target)
        if socket is None:
            return None
        return self._exchange(target, socket, data, timeout)

    async def _exchange(
        self, target: str, socket: ClientConnection, data: str, timeout: float | None
    ) -> AsyncGenerator[str, None]:
        kept = False
        try:
            try:
                await socket.send(data)
                while True:
                    message = await _received(socket, _base.read_timeout(timeout))
                    text = message if isinstance(message, str) else message.decode()
                    if text == END:
                        kept = True
                        yield text
                        return
                    if REFUSED in text[:32] and (refusal := json.loads(text))["type"] == "refused":
                        kept = True
                        del refusal["type"]
                        status = refusal.pop("status")
                        _base.check(httpx.Response(status, json=refusal))
                    yield text
            except (OSError, ConnectionClosed, TimeoutError) as exc:
                raise _base.map_transport_error(exc, timeout) from exc
        finally:
            self._done(target, socket, kept)

    async def _open(self, target: str) -> ClientConnection | None:
        try:
            return await connect(
                target,
                additional_headers={"X-API-Key": self._config.api_key},
                ssl=_base.ssl_context() if target.startswith("wss:") else None,
                proxy=None,  # only sockets httpx would open directly come here
                compression=None,  # the events are small; deflating them costs each run
                open_timeout=self._config.request_timeout,
                ping_interval=None,  # the server pings; its pongs are answered
                max_size=None,  # results may be large
            )
        except InvalidHandshake:
            # Whatever the status: trying again at each run would cost each run an exchange
            # with a server that fails the upgrade (a proxy's 502 at a restart costs the gain).
            self.refused = True
            return None
        except (OSError, TimeoutError) as exc:
            raise _base.map_transport_error(exc, None) from exc

    async def _take(self, target: str) -> ClientConnection | None:
        while True:
            if self._closed:  # as httpx's closed client
                raise RuntimeError("the sandbox's connections are closed (AsyncSandbox.close())")
            idle = self._idle.get(target)
            if not idle:
                return None
            socket, since = idle.pop()
            if time.monotonic() - since > QUIET:
                # The server's close, if one came, is read within the loop's next two rounds
                # (a read found ready in the first is queued behind this task's resumption).
                await asyncio.sleep(0)
                await asyncio.sleep(0)
            if socket.state is State.OPEN:
                return socket
            socket.transport.close()

    def _done(self, target: str, socket: ClientConnection, kept: bool) -> None:
        if kept and socket.state is State.OPEN and not self._closed:
            idle = self._idle.setdefault(target, [])
            if len(idle) < MAX_IDLE:
                idle.append((socket, time.monotonic()))
                return
        # No closing handshake to wait for: a run cut short is interrupted by the server when
        # its socket goes, as over HTTP; and a close must not wait on a cancelled run.
        socket.transport.close()

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for sockets in idle.values():
            for socket, _ in sockets:
                socket.transport.close()


if sys.version_info >= (3, 11):  # noqa: UP036 - the SDK supports 3.10 (wait_for: a task each)

    async def _received(socket: ClientConnection, seconds: float | None) -> str | bytes:
        async with asyncio.timeout(seconds):
            return await socket.recv()

else:  # pragma: no cover - Python 3.10

    async def _received(socket: ClientConnection, seconds: float | None) -> str | bytes:
        return await asyncio.wait_for(socket.recv(), seconds)
