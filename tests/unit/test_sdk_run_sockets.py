"""What the blocking SDK's run sockets make of what a websocket server sends, frame by frame
(interpreter_sdk/_run_sockets.py): a message in fragments comes whole; a close that came with a
run's end leaves that socket out of the next run; an upgrade refused is not tried again."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import httpx
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from interpreter_sdk._base import ConnectionConfig
from interpreter_sdk._run_sockets import END, RunSockets
from interpreter_sdk._runs_sync import Connections

TARGET = "/v1/sandboxes/x/runs"
Answer = Callable[[ServerProtocol], None]


class SocketWire:
    """A loopback websocket server (websockets' sans-IO server protocol) answering each message
    with ``answer(protocol)``, the upgrades of its first connections refused with ``refusals``;
    ``connections`` counts the connections it took."""

    def __init__(self, answer: Answer, *refusals: int) -> None:
        self.answer, self.refusals = answer, list(refusals)
        self.connections = 0
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
        protocol = ServerProtocol()
        with connection:
            while data := connection.recv(65536):
                protocol.receive_data(data)
                for event in protocol.events_received():
                    if isinstance(event, Request) and self.refusals:
                        protocol.send_response(protocol.reject(self.refusals.pop(0), "no"))
                    elif isinstance(event, Request):
                        protocol.send_response(protocol.accept(event))
                    elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        self.answer(protocol)
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
