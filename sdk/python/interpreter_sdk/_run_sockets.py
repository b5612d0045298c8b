"""The blocking Sandbox's runs over websockets (``/v1/sandboxes/{id}/runs``), each a kept
connection of ``_runs_sync`` upgraded, driven by websockets' sans-IO client protocol.

An HTTP exchange costs ~0.2 ms more than a message on an open websocket here (BENCHMARKS.md,
"Eleventh pass"): its head built, parsed by the server, passed through its app, answered with a
head and chunks. So after a sandbox's first run (the create's kept connection, with no upgrade
before it: pool create → first result is a goal too), its runs go over websockets, one run at a
time on each (the server's protocol: the front end's ``api/run_socket.py``). A server that
refuses the upgrade (one older than the route) is spoken to over ``POST .../execute`` from then
on (whatever the refusal's status). An idle socket the server pinged (uvicorn pings every
20 s) answers when it is next taken and takes the run; one the server closed is dropped. A run's
reader stalled for 20-40 s (a callback that blocks) leaves pings unanswered: uvicorn closes the
socket (1011) and the run is interrupted, where over HTTP the server would only have waited.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Generator
from typing import Any

import httpx
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from interpreter_sdk import _base, _runs_sync  # _runs_sync imports this module: used at calls

END = '{"type":"end"}'  # a run's last message
REFUSED = '"refused"'  # the type of a run refused before it started: its only message
MAX_IDLE = 8  # sockets kept for runs in parallel threads
CONTROL = (Opcode.PING, Opcode.PONG)
DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)  # a message: its frames to the one with fin


class Outcome:
    """How a run on a socket went, message by message (the twins' ``_exchange``): its socket is
    kept for the next run once the run ended or was refused, not when it was cut short."""

    kept = False

    def last(self, text: str) -> bool:
        """Whether ``text`` is the run's last message (its end); a refusal (a run refused
        before it started: its only message) raises what ``POST .../execute`` raises."""
        if text == END:
            self.kept = True
            return True
        if REFUSED in text[:32] and (answer := json.loads(text))["type"] == "refused":
            self.kept = True
            del answer["type"]
            status = answer.pop("status")
            _base.check(httpx.Response(status, json=answer))
        return False


class RunSockets:
    """Kept run sockets to one server, each used by one run at a time (thread-safe)."""

    def __init__(self, connections: _runs_sync.Connections, https: bool, api_key: str) -> None:
        self._connections, self._https, self._api_key = connections, https, api_key
        self.refused = False  # the server has no run socket: POST .../execute it is
        self._idle: dict[str, list[RunSocket]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def lines(
        self, target: str, body: dict[str, Any], timeout: float | None
    ) -> Generator[str, None, None] | None:
        """The run's event lines (its request already sent); None: the server refused the
        upgrade (``refused`` is set)."""
        data = _runs_sync.encoded(body)  # first: what it refuses (a NaN) takes no socket
        socket = self._take(target) or self._open(target)
        if socket is None:
            return None
        return self._exchange(target, socket, data, timeout)

    def _exchange(
        self, target: str, socket: RunSocket, data: bytes, timeout: float | None
    ) -> Generator[str, None, None]:
        outcome = Outcome()
        try:
            try:
                socket.send_text(data)
                for text in socket.messages(_base.read_timeout(timeout)):
                    ended = outcome.last(text)
                    yield text
                    if ended:
                        return
            except OSError as exc:
                raise _base.map_transport_error(exc, timeout) from exc
        finally:
            self._done(target, socket, outcome.kept)

    def _open(self, target: str) -> RunSocket | None:
        connection = self._connections.take()
        try:
            socket = RunSocket.upgrade(connection, target, self._https, self._api_key)
        except OSError as exc:
            connection.close()
            raise _base.map_transport_error(exc, None) from exc
        if socket is None:
            connection.close()
            # Whatever the status: trying again at each run would cost each run an exchange
            # with a server that fails the upgrade (a proxy's 502 at a restart costs the gain).
            self.refused = True
        return socket

    def _take(self, target: str) -> RunSocket | None:
        while True:
            with self._lock:
                if self._closed:  # as httpx's closed client
                    raise RuntimeError("the sandbox's connections are closed (Sandbox.close())")
                idle = self._idle.get(target)
                if not idle:
                    return None
                socket = idle.pop()
            if socket.settled():  # out of the lock: it may read and answer
                return socket
            socket.connection.close()

    def _done(self, target: str, socket: RunSocket, kept: bool) -> None:
        if kept:
            with self._lock:
                idle = self._idle.setdefault(target, [])
                if not self._closed and len(idle) < MAX_IDLE:
                    idle.append(socket)
                    return
        socket.connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for sockets in idle.values():
            for socket in sockets:
                socket.connection.close()


class RunSocket:
    """One websocket over a connection."""

    def __init__(self, connection: _runs_sync.Connection, protocol: ClientProtocol) -> None:
        self.connection, self._protocol = connection, protocol

    @classmethod
    def upgrade(
        cls, connection: _runs_sync.Connection, target: str, https: bool, api_key: str
    ) -> RunSocket | None:
        """The connection upgraded to ``target``'s websocket; None: the server refused."""
        host, port = connection.address
        uri = f"{'wss' if https else 'ws'}://{_netloc(host, port)}{target}"
        protocol = ClientProtocol(parse_uri(uri), max_size=None)  # results may be large
        request = protocol.connect()
        request.headers["X-API-Key"] = api_key
        protocol.send_request(request)
        connection.send(b"".join(protocol.data_to_send()))
        sock = connection.sock
        assert sock is not None  # sent
        sock.settimeout(connection.connect_timeout)
        while True:
            data = sock.recv(_runs_sync.RECEIVE)
            if not data:
                protocol.receive_eof()
            else:
                protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Response):
                    if protocol.state is not State.OPEN or event.status_code != 101:
                        return None
                    return cls(connection, protocol)
            if not data:
                raise ConnectionResetError("the server closed the connection during an upgrade")

    def settled(self) -> bool:
        """Whether the idle socket can take a run: what the server sent meanwhile was pings
        (answered now: uvicorn pings every 20 s), not its close or the connection's end."""
        if self._protocol.state is not State.OPEN:  # a close that came with the last run's end
            return False
        try:
            self._flush()  # a pong due for a ping that came with it
        except OSError:
            return False
        for _ in range(8):  # pings, not a flood
            if self.connection.usable():  # nothing to read
                return True
            sock = self.connection.sock
            assert sock is not None
            sock.settimeout(0)
            try:
                data = sock.recv(_runs_sync.RECEIVE)
            except (BlockingIOError, ssl.SSLWantReadError):
                continue  # a TLS record not whole yet
            except OSError:
                return False
            if not data:
                return False
            self._protocol.receive_data(data)
            events = self._protocol.events_received()
            if any(isinstance(e, Frame) and e.opcode not in CONTROL for e in events):
                return False  # no message is due between runs
            try:
                self._flush()
            except OSError:
                return False
            if self._protocol.state is not State.OPEN:
                return False
        return False

    def send_text(self, data: bytes) -> None:
        self._protocol.send_text(data)
        self._flush()

    def messages(self, timeout: float | None) -> Generator[str, None, None]:
        """The messages the server sends, waiting up to ``timeout`` s for each of their bytes
        (pings answered on the way); a close or the connection's end is a ConnectionError."""
        sock = self.connection.sock
        assert sock is not None
        protocol = self._protocol
        parts: list[bytes | bytearray | memoryview] = []  # a fragmented message's frames
        while True:
            for event in protocol.events_received():
                if isinstance(event, Frame) and event.opcode in DATA:
                    parts.append(event.data)
                    if event.fin:
                        message, parts = b"".join(parts), []
                        yield str(message, "utf-8")
            self._flush()  # pongs, a close answered
            if protocol.state is not State.OPEN:
                close = protocol.close_rcvd
                said = f" ({close.code}: {close.reason})" if close else ""
                raise ConnectionResetError(f"the server closed the run socket{said}")
            sock.settimeout(timeout)
            data = sock.recv(_runs_sync.RECEIVE)
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()

    def _flush(self) -> None:
        out = b"".join(self._protocol.data_to_send())
        if out:
            self.connection.send(out)  # with the connect timeout: the read's is set before it


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
