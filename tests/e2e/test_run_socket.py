"""Runs over a websocket, ``/v1/sandboxes/{id}/runs`` (api/run_socket.py), and the blocking SDK's
runs over it after a sandbox's first (interpreter_sdk/_run_sockets.py): the key checked at the
upgrade, each run answered with the lines ``POST .../execute`` answers, a refusal one message on
a socket that takes the next run, one run at a time, a client gone interrupting its run."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from interpreter_sdk import ExecutionTimeoutError, NotFoundError, Sandbox
from tests.conftest import Server

PING = 20  # seconds between the pings uvicorn sends on a websocket (its default)


def socket_url(server: Server, sandbox_id: str) -> str:
    return f"{server.url.replace('http://', 'ws://')}/v1/sandboxes/{sandbox_id}/runs"


@pytest.fixture
def run_socket(server: Server, sandbox: Sandbox) -> Iterator[ClientConnection]:
    headers = {"X-API-Key": server.api_key}
    with connect(socket_url(server, sandbox.sandbox_id), additional_headers=headers) as ws:
        yield ws


def run(ws: ClientConnection, request: Any) -> list[dict[str, Any]]:
    """One run's messages, to its end or its refusal."""
    ws.send(request if isinstance(request, str | bytes) else json.dumps(request))
    messages = []
    while True:
        message = json.loads(ws.recv(timeout=60))
        messages.append(message)
        if message["type"] in ("end", "refused"):
            return messages


def test_runs_are_answered_as_execute_answers_them(
    run_socket: ClientConnection, server: Server, sandbox: Sandbox
) -> None:
    code = {"code": "print('out')\n6 * 7"}
    over_socket = run(run_socket, code)
    with server.client() as http:
        answer = http.post(f"/v1/sandboxes/{sandbox.sandbox_id}/execute", json=code)
    over_http = [json.loads(line) for line in answer.text.splitlines()]
    for messages in (over_socket, over_http):
        for message in messages:
            message.pop("timestamp", None)
            message.pop("execution_count", None)
    assert over_socket == over_http
    assert [m["type"] for m in over_socket] == ["execution_count", "stdout", "result", "end"]
    assert run(run_socket, {"code": "x = 1"})[-1] == {"type": "end"}  # the next run, same socket


@pytest.mark.parametrize(
    "request_",
    [
        b"{not json",
        b"\xff",
        {"code": 5},
        {"code": "1", "language": "cobol"},
        {"code": "1", "context_id": "nope"},
    ],
)
def test_a_refused_run_is_execute_s_error_answer_and_the_socket_takes_the_next(
    run_socket: ClientConnection, server: Server, sandbox: Sandbox, request_: Any
) -> None:
    content = request_ if isinstance(request_, bytes) else json.dumps(request_).encode()
    [refusal] = run(run_socket, content)
    with server.client() as http:
        answer = http.post(
            f"/v1/sandboxes/{sandbox.sandbox_id}/execute",
            content=content,
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code >= 400
    assert refusal == {"type": "refused", "status": answer.status_code, **answer.json()}
    assert run(run_socket, {"code": "2 + 2"})[-2]["text"] == "4"


def test_a_run_in_no_sandbox_is_refused_with_not_found(server: Server) -> None:
    headers = {"X-API-Key": server.api_key}
    with connect(socket_url(server, "no-such-sandbox"), additional_headers=headers) as ws:
        [refusal] = run(ws, {"code": "1"})
    assert refusal["status"] == 404 and refusal["error"]["type"] == "SandboxNotFoundError"


def test_a_message_over_the_body_bound_closes_the_socket(run_socket: ClientConnection) -> None:
    run_socket.send(json.dumps({"code": "x" * (17 << 20)}))  # the bound: 16 MiB by default
    with pytest.raises(ConnectionClosed) as closed:
        run_socket.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.parametrize("key", [None, "wrong"])
def test_the_key_is_checked_at_the_upgrade(server: Server, key: str | None) -> None:
    headers = {"X-API-Key": key} if key else {}
    with pytest.raises(InvalidStatus) as refused:
        connect(socket_url(server, "any"), additional_headers=headers).close()
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["type"] == "AuthenticationError"


def test_a_second_run_while_one_is_under_way_closes_the_socket(
    run_socket: ClientConnection, sandbox: Sandbox
) -> None:
    run_socket.send(json.dumps({"code": "import time\nprint('go', flush=True)\ntime.sleep(60)"}))
    assert json.loads(run_socket.recv(timeout=30))["type"] == "execution_count"
    run_socket.send(json.dumps({"code": "1"}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            run_socket.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    started = time.monotonic()
    assert sandbox.run_code("'next'", timeout=30).text == "next"
    assert time.monotonic() - started < 20, "the cut run must have been interrupted"


def test_a_client_gone_interrupts_its_run(server: Server, sandbox: Sandbox) -> None:
    headers = {"X-API-Key": server.api_key}
    with connect(socket_url(server, sandbox.sandbox_id), additional_headers=headers) as ws:
        ws.send(json.dumps({"code": "import time\nprint('go', flush=True)\ntime.sleep(60)"}))
        while json.loads(ws.recv(timeout=30))["type"] != "stdout":
            pass
    started = time.monotonic()
    assert sandbox.run_code("'next'", timeout=30).text == "next"
    assert time.monotonic() - started < 20, "the abandoned run must have been interrupted"


def test_a_client_gone_while_its_run_waits_to_send_interrupts_it_quietly(
    server: Server, sandbox: Sandbox
) -> None:
    # A client that reads nothing, then resets: the run's next send fails (the socket is
    # gone before its watcher hears of it), which must end the run as a disconnect does.
    seen = server.log.stat().st_size
    address = urlsplit(server.url)
    assert address.hostname is not None and address.port is not None
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((address.hostname, address.port))
    protocol = ClientProtocol(parse_uri(socket_url(server, sandbox.sandbox_id)))
    request = protocol.connect()
    request.headers["X-API-Key"] = server.api_key
    protocol.send_request(request)
    sock.sendall(b"".join(protocol.data_to_send()))
    while protocol.state is State.CONNECTING:
        protocol.receive_data(sock.recv(65536))
    assert protocol.state is State.OPEN
    flood = "while True:\n    print('x' * 10000, flush=True)"
    protocol.send_text(json.dumps({"code": flood}).encode())
    sock.sendall(b"".join(protocol.data_to_send()))
    time.sleep(3)  # the server's sends back up: its buffers fill, the run waits to write
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset
    started = time.monotonic()
    assert sandbox.run_code("'next'", timeout=30).text == "next"
    assert time.monotonic() - started < 20, "the abandoned run must have been interrupted"
    logged = server.log.read_bytes()[seen:]
    assert b"Traceback" not in logged, logged.decode(errors="replace")[-2000:]


def test_the_sdk_runs_over_a_socket_after_the_first_run(sandbox: Sandbox) -> None:
    sockets = sandbox._runs._sockets
    assert sockets is not None
    assert sandbox.run_code("1").text == "1"  # the create's connection
    assert not sockets._idle
    assert sandbox.run_code("2").text == "2"
    [socket] = sockets._idle[f"/v1/sandboxes/{sandbox.sandbox_id}/runs"]
    big = sandbox.run_code("'x' * (5 << 20)")  # over websockets' default 1 MiB message bound
    assert big.text is not None and len(big.text) == 5 << 20
    assert sandbox.run_code("3").text == "3"
    assert sockets._idle[f"/v1/sandboxes/{sandbox.sandbox_id}/runs"] == [socket]
    with pytest.raises(ExecutionTimeoutError):  # its fault stops the read: a socket cut short
        sandbox.run_code("import time; time.sleep(30)", timeout=1)
    assert sandbox.run_code("4").text == "4"  # on a new one
    assert sockets._idle[f"/v1/sandboxes/{sandbox.sandbox_id}/runs"] != [socket]
    assert not sockets.refused


def test_the_sdks_refused_run_over_a_socket_is_its_error(sandbox: Sandbox) -> None:
    sandbox.run_code("1")
    with pytest.raises(NotFoundError, match="nope"):
        sandbox.run_code("1", context="nope")
    assert sandbox.run_code("2").text == "2"  # the socket took the next run


def test_the_sdks_runs_from_threads_each_take_a_socket(sandbox: Sandbox) -> None:
    contexts = [sandbox.create_code_context() for _ in range(3)]
    sandbox.run_code("0")
    answers: dict[int, list[str | None]] = {i: [] for i in range(3)}

    def runs(i: int) -> None:
        for n in range(5):
            answers[i].append(sandbox.run_code(f"{i} * 10 + {n}", context=contexts[i]).text)

    threads = [threading.Thread(target=runs, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert answers == {i: [str(i * 10 + n) for n in range(5)] for i in range(3)}
    sockets = sandbox._runs._sockets
    assert sockets is not None
    assert 1 <= len(sockets._idle[f"/v1/sandboxes/{sandbox.sandbox_id}/runs"]) <= 3


def test_an_idle_socket_the_server_pinged_takes_the_next_run(sandbox: Sandbox) -> None:
    sandbox.run_code("1")
    sandbox.run_code("2")
    sockets = sandbox._runs._sockets
    assert sockets is not None
    [socket] = sockets._idle[f"/v1/sandboxes/{sandbox.sandbox_id}/runs"]
    time.sleep(PING + 1.5)  # uvicorn pings the idle socket; its answer is due within 20 s more
    assert sandbox.run_code("3").text == "3"
    assert sockets._idle[f"/v1/sandboxes/{sandbox.sandbox_id}/runs"] == [socket]
