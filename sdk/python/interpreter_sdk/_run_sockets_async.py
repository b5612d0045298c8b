"""AsyncSandbox's runs over websockets (``/v1/sandboxes/{id}/runs``), on websockets' asyncio
client: the asyncio twin of ``_run_sockets``, speaking the same protocol (the front end's
``api/run_socket.py``).

Over httpx, an asyncio ``run_code('1+1')`` cost ~3.6 ms above the raw kernel here, beyond both
goals of issue 19 (p50 within 1 ms, p99 within 3); httpx's HTTP/1.1 (h11, httpcore) is most of
it (BENCHMARKS.md, "Thirteenth pass"). So after a sandbox's first run (httpx's, on the create's
kept connection: no upgrade before the pool's create → first result), its runs go over kept
websockets, one run at a time on each. A server that refuses the upgrade (one older than the
route, or a proxy's redirect: none is followed, the key must not go elsewhere) is spoken to over
``POST .../execute`` from then on; a connection lost during the upgrade fails that run only.
websockets answers the server's pings (uvicorn's, every 20 s) while the event loop runs; a
socket that sat idle long enough for a ping to go unanswered (a loop blocked, or not running
between calls) is given the loop twice before it is taken, so that a close the server sent
meanwhile is seen and the socket dropped, not handed a run. A run cancelled (or cut short by
an error) closes its socket: the server interrupts the run, as it does when an HTTP client goes
away. A socket is its event loop's: one kept by another loop (an AsyncSandbox used again under a
new ``asyncio.run``) is dropped, not taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncGenerator, Awaitable
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidURI
from websockets.protocol import State

from interpreter_sdk import _base, _runs_sync
from interpreter_sdk._run_sockets import Outcome

MAX_IDLE = 8  # sockets kept for runs under way at once
QUIET = 10.0  # seconds idle after which a socket may have missed a ping (uvicorn's: 20 s)
# What a socket's exchange may raise that is the connection's (or its timeout's): asyncio's
# TimeoutError is a class of its own before Python 3.11.
LOST = (OSError, ConnectionClosed, TimeoutError, asyncio.TimeoutError)


class _Connect(connect):
    """websockets' connect, following no redirect: its answer is a refusal (websockets would
    send the API key on, to another host too)."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


class _Idle:
    """A kept socket, since when it is idle, and the event loop it belongs to."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket, self.since = socket, time.monotonic()
        self.loop = asyncio.get_running_loop()


class RunSockets:
    """Kept run sockets to one server, each used by one run at a time (one event loop's)."""

    def __init__(self, config: _base.ConnectionConfig) -> None:
        self._config = config
        self.refused = False  # the server has no run socket: POST .../execute it is
        self._idle: dict[str, list[_Idle]] = {}
        self._closed = False
        self._url: httpx.URL | None = None  # the last run's, and its ws:// form (~15 us each)
        self._target = ""

    async def lines(
        self, url: httpx.URL, body: dict[str, Any], timeout: float | None
    ) -> AsyncGenerator[str, None] | None:
        """The run's event lines (its request sent at the first); None: the server refused the
        upgrade (``refused`` is set)."""
        data = _runs_sync.encoded(body).decode()  # first: what it refuses (a NaN) takes no socket
        if url is not self._url:  # a sandbox's runs all name its one URL
            self._url = url
            self._target = str(url.copy_with(scheme="wss" if url.scheme == "https" else "ws"))
        target = self._target
        socket = await self._take(target) or await self._open(target)
        if socket is None:
            return None
        return self._exchange(target, socket, data, timeout)

    async def _exchange(
        self, target: str, socket: ClientConnection, data: str, timeout: float | None
    ) -> AsyncGenerator[str, None]:
        outcome = Outcome()
        try:
            try:
                await _within(socket.send(data), self._config.request_timeout)
                while True:
                    message = await _within(socket.recv(), _base.read_timeout(timeout))
                    text = message if isinstance(message, str) else message.decode()
                    ended = outcome.last(text)
                    yield text
                    if ended:
                        return
            except LOST as exc:
                raise _base.map_transport_error(exc, timeout) from exc
        finally:
            self._done(target, socket, outcome.kept)

    async def _open(self, target: str) -> ClientConnection | None:
        try:
            return await _Connect(
                target,
                additional_headers={"X-API-Key": self._config.api_key},
                ssl=_base.ssl_context() if target.startswith("wss:") else None,
                proxy=None,  # only sockets httpx would open directly come here
                compression=None,  # the events are small; deflating them costs each run
                open_timeout=self._config.request_timeout,
                ping_interval=None,  # the server pings; its pongs are answered
                max_size=None,  # results may be large
            )
        except InvalidMessage as exc:  # the connection lost (or garbled) during the upgrade
            raise _base.map_transport_error(exc, None) from exc
        except (InvalidHandshake, InvalidURI):
            # Whatever the status: trying again at each run would cost each run an exchange
            # with a server that fails the upgrade (a proxy's 502 at a restart costs the gain).
            self.refused = True
            return None
        except LOST as exc:
            raise _base.map_transport_error(exc, None) from exc

    async def _take(self, target: str) -> ClientConnection | None:
        while True:
            if self._closed:  # as httpx's closed client
                raise RuntimeError("the sandbox's connections are closed (AsyncSandbox.close())")
            idle = self._idle.get(target)
            if not idle:
                return None
            kept = idle.pop()
            socket = kept.socket
            if kept.loop is not asyncio.get_running_loop():
                with contextlib.suppress(RuntimeError):  # its loop closed
                    socket.transport.close()
                continue
            if time.monotonic() - kept.since > QUIET:
                try:
                    # The server's close, if one came, is read within the loop's next two
                    # rounds (a read found ready in the first is queued behind this task).
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                except BaseException:  # cancelled: the socket is neither idle nor taken
                    socket.transport.close()
                    raise
            if socket.state is State.OPEN:
                return socket
            socket.transport.close()

    def _done(self, target: str, socket: ClientConnection, kept: bool) -> None:
        if kept and socket.state is State.OPEN and not self._closed:
            idle = self._idle.setdefault(target, [])
            if len(idle) < MAX_IDLE:
                idle.append(_Idle(socket))
                return
        # No closing handshake to wait for: a run cut short is interrupted by the server when
        # its socket goes, as over HTTP; and a close must not wait on a cancelled run.
        socket.transport.close()

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for sockets in idle.values():
            for kept in sockets:
                with contextlib.suppress(RuntimeError):  # its loop closed
                    kept.socket.transport.close()


T = TypeVar("T")

if sys.version_info >= (3, 11):  # noqa: UP036 - the SDK supports 3.10 (wait_for: a task each)

    async def _within(step: Awaitable[T], seconds: float | None) -> T:
        async with asyncio.timeout(seconds):
            return await step

else:  # pragma: no cover - Python 3.10

    async def _within(step: Awaitable[T], seconds: float | None) -> T:
        return await asyncio.wait_for(step, seconds)
