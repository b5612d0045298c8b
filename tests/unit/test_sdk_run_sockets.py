"""What the SDK's run sockets make of what a websocket server sends, frame by frame: the blocking
one's (interpreter_sdk/_run_sockets.py): a message in fragments comes whole; a close that came
with a run's end leaves that socket out of the next run; an upgrade refused is not tried again;
and the asyncio one's (_run_sockets_async.py): the same, and a close that came while the event
loop did not run is seen before the socket is taken, a run cancelled drops its socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from interpreter_sdk import ConnectionError as SDKConnectionError
from interpreter_sdk import _run_sockets_async
from interpreter_sdk._base import ConnectionConfig
from interpreter_sdk._run_sockets import END, RunSockets
from interpreter_sdk._runs_sync import Connections

TARGET = "/v1/sandboxes/x/runs"
Answer = Callable[[ServerProtocol], None]


class SocketWire:
    """A loopback websocket server (websockets' sans-IO server protocol) answering each message
    with ``answer(protocol)``, the upgrades of its first connections refused with ``refusals``
    (a status; a 302 to this server's own address; 0: the connection closed unanswered);
    ``connections`` counts the connections it took, ``gone`` those that ended. ``close_after``:
    seconds after each answer to close the socket (1011, as uvicorn when a ping went
    unanswered)."""

    def __init__(self, answer: Answer, *refusals: int, close_after: float | None = None) -> None:
        self.answer, self.refusals, self.close_after = answer, list(refusals), close_after
        self.connections = self.gone = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = httpx.URL(f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1")
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(connection,), daemon=True).start()

    def _talk(self, connection: socket.socket) -> None:
        try:
            self._exchange(connection)
        finally:
            self.gone += 1

    def _exchange(self, connection: socket.socket) -> None:
        protocol = ServerProtocol()
        # A client may go with data unread (a socket it dropped): a reset, not this test's fault.
        with connection, contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while data := connection.recv(65536):
                protocol.receive_data(data)
                for event in protocol.events_received():
                    if isinstance(event, Request) and self.refusals:
                        status = self.refusals.pop(0)
                        if not status:
                            return
                        refusal = protocol.reject(status, "no")
                        if status == 302:
                            refusal.headers["Location"] = str(self.url.join("elsewhere"))
                        protocol.send_response(refusal)
                    elif isinstance(event, Request):
                        protocol.send_response(protocol.accept(event))
                    elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        self.answer(protocol)
                        if self.close_after is not None:
                            connection.sendall(b"".join(protocol.data_to_send()))
                            time.sleep(self.close_after)
                            protocol.send_close(1011, "keepalive ping timeout")
                connection.sendall(b"".join(protocol.data_to_send()))

    def sockets(self) -> RunSockets:
        connections = Connections(self.url, ConnectionConfig(str(self.url), "key"))
        return RunSockets(connections, False, "key")

    def close(self) -> None:
        self.listener.close()


def run(sockets: RunSockets) -> list[str]:
    lines = sockets.lines(TARGET, {"code": "1"}, 10)
    assert lines is not None, "the upgrade was refused"
    return list(lines)


def end(protocol: ServerProtocol) -> None:
    protocol.send_text(END.encode())


def test_a_message_in_fragments_comes_whole() -> None:
    def answer(protocol: ServerProtocol) -> None:
        protocol.send_text(b'{"type":"stdout",', fin=False)
        protocol.send_continuation(b'"text":"h', fin=False)
        protocol.send_continuation('é"}'.encode(), fin=True)  # a character cut between frames
        protocol.send_text(END.encode())

    wire = SocketWire(answer)
    sockets = wire.sockets()
    assert run(sockets) == ['{"type":"stdout","text":"hé"}', END]
    assert run(sockets) == ['{"type":"stdout","text":"hé"}', END]
    assert wire.connections == 1  # the socket took both runs
    sockets.close()
    wire.close()


def test_a_close_that_came_with_a_runs_end_leaves_the_socket_out() -> None:
    def answer(protocol: ServerProtocol) -> None:
        protocol.send_text(END.encode())
        protocol.send_close(1001, "going away")  # in the same write as the end

    wire = SocketWire(answer)
    sockets = wire.sockets()
    assert run(sockets) == [END]
    assert run(sockets) == [END]  # on a new socket, not an error of the closed one
    assert wire.connections == 2
    sockets.close()
    wire.close()


def test_an_upgrade_refused_is_not_tried_again() -> None:
    wire = SocketWire(end, 502)
    sockets = wire.sockets()
    assert sockets.lines(TARGET, {"code": "1"}, 10) is None  # this run goes over HTTP
    assert sockets.refused  # and every later one: an exchange more a run would cost more
    assert wire.connections == 1
    sockets.close()
    wire.close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for a test's runs (a run socket is its loop's)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def async_sockets(wire: SocketWire) -> _run_sockets_async.RunSockets:
    return _run_sockets_async.RunSockets(ConnectionConfig(str(wire.url), "key"))


async def async_lines(
    sockets: _run_sockets_async.RunSockets, wire: SocketWire, timeout: float | None = 10
) -> list[str]:
    got = await sockets.lines(wire.url.join("sandboxes/x/runs"), {"code": "1"}, timeout)
    assert got is not None, "the upgrade was refused"
    return [line async for line in got]


def test_an_async_message_in_fragments_comes_whole(loop: asyncio.AbstractEventLoop) -> None:
    def answer(protocol: ServerProtocol) -> None:
        protocol.send_text(b'{"type":"stdout",', fin=False)
        protocol.send_continuation(b'"text":"h\xc3', fin=False)
        protocol.send_continuation(b'\xa9"}', fin=True)  # a character cut between frames
        protocol.send_text(END.encode())

    wire = SocketWire(answer)
    sockets = async_sockets(wire)
    assert loop.run_until_complete(async_lines(sockets, wire)) == [
        '{"type":"stdout","text":"hé"}',
        END,
    ]
    assert loop.run_until_complete(async_lines(sockets, wire)) == [
        '{"type":"stdout","text":"hé"}',
        END,
    ]
    assert wire.connections == 1  # the socket took both runs
    sockets.close()
    wire.close()


def test_an_async_socket_closed_while_the_loop_stood_still_is_not_taken(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_run_sockets_async, "QUIET", 0.0)  # idle "long enough" at once
    wire = SocketWire(end, close_after=0.05)
    sockets = async_sockets(wire)
    assert loop.run_until_complete(async_lines(sockets, wire)) == [END]
    time.sleep(0.3)  # the server's close arrives; no loop runs to read it
    assert loop.run_until_complete(async_lines(sockets, wire)) == [
        END
    ]  # on a new socket, not an error of the closed one
    assert wire.connections == 2
    sockets.close()
    wire.close()


def test_an_async_upgrade_refused_is_not_tried_again(loop: asyncio.AbstractEventLoop) -> None:
    wire = SocketWire(end, 502)
    sockets = async_sockets(wire)
    url = wire.url.join("sandboxes/x/runs")
    assert loop.run_until_complete(sockets.lines(url, {"code": "1"}, 10)) is None  # over HTTP
    assert sockets.refused  # and every later one
    assert wire.connections == 1
    sockets.close()
    wire.close()


def test_an_async_run_cancelled_drops_its_socket(loop: asyncio.AbstractEventLoop) -> None:
    wire = SocketWire(lambda protocol: None)  # a run that never ends
    sockets = async_sockets(wire)
    with pytest.raises(TimeoutError):
        loop.run_until_complete(asyncio.wait_for(async_lines(sockets, wire, None), 0.3))
    assert not any(sockets._idle.values())
    deadline = time.monotonic() + 5
    while not wire.gone and time.monotonic() < deadline:  # the server sees it go: the run
        time.sleep(0.01)  # is interrupted
    assert wire.gone == 1
    wire.close()


def test_an_async_upgrade_redirected_is_not_followed(loop: asyncio.AbstractEventLoop) -> None:
    wire = SocketWire(end, 302)  # the key would go with it, to another host too
    sockets = async_sockets(wire)
    url = wire.url.join("sandboxes/x/runs")
    assert loop.run_until_complete(sockets.lines(url, {"code": "1"}, 10)) is None  # over HTTP
    assert sockets.refused
    assert wire.connections == 1
    wire.close()


def test_an_async_upgrade_cut_short_fails_that_run_only(loop: asyncio.AbstractEventLoop) -> None:
    wire = SocketWire(end, 0)  # the first connection closed, unanswered
    sockets = async_sockets(wire)
    with pytest.raises(SDKConnectionError):
        loop.run_until_complete(async_lines(sockets, wire))
    assert not sockets.refused
    assert loop.run_until_complete(async_lines(sockets, wire)) == [END]
    sockets.close()
    wire.close()


def test_an_async_socket_of_another_event_loop_is_not_taken(
    loop: asyncio.AbstractEventLoop,
) -> None:
    wire = SocketWire(end)
    sockets = async_sockets(wire)
    assert loop.run_until_complete(async_lines(sockets, wire)) == [END]
    other = asyncio.new_event_loop()  # as a second asyncio.run with the same AsyncSandbox
    try:
        assert other.run_until_complete(async_lines(sockets, wire)) == [END]
        sockets.close()
    finally:
        other.close()
    assert wire.connections == 2
    wire.close()
