"""Issue 19, item 2: what one HTTP exchange costs on this machine before any work of ours, layer
by layer, the servers side by side in one process and asked in turn by one client process (a
kept ``http.client`` connection each, as the blocking SDK's runs are), one request every ~17 ms
(as ``bench_run_code.py`` spaces its samples: the machine idles between them).

    .venv/bin/python benchmarks/bench_http_floor.py [--rounds 400]

- ``tcp ping-pong``: 200 bytes there and back over loopback TCP to a process that echoes them
  (no HTTP): the wake-ups and the network stack;
- ``raw uvloop protocol``: an ``asyncio.Protocol`` on uvloop answering a canned 200 without
  parsing: the client's HTTP (http.client) and one event loop;
- ``uvicorn + bare ASGI``: uvicorn (httptools) calling an ASGI function that answers 200;
- ``uvicorn + FastAPI, one route``: a FastAPI app with one ``GET /health`` route;
- ``uvicorn + FastAPI, one route, the front end's middleware``: the same behind pure ASGI layers
  as many as the front end's middleware (``RequestGuard``, the E2B router, and the hot path as it
  was until the tenth pass, innermost), each passing the request on (a function call and a scope
  read each);
- ``the SDK's run_code, canned answer``: the blocking SDK's ``run_code("1+1")`` to uvicorn and an
  ASGI function answering what the front end answers for it (the head with the execution count,
  the result, the end with the end of the body: three writes) at once, with no kernel: the
  exchange of a run, the SDK's and the HTTP server's part, without the front end's (this app
  refuses the run socket's upgrade: the SDK's runs stay on ``POST .../execute``);
- ``the SDK's run_code over a run socket, canned answer``: the same three answers as messages on
  the SDK's run socket (``/runs``, uvicorn's websockets-sansio; the upgrade done before).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WARMUP = 30
CANNED_RUN = "the SDK's run_code, canned answer"
CANNED_SOCKET = "the SDK's run_code over a run socket, canned answer"
SPACING = 0.017  # seconds between two requests
BODY = b'{"status":"ok"}'
CANNED = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


RUN_LINES = (
    b'{"type":"execution_count","execution_count":1}\n',
    b'{"type":"result","data":{"text/plain":"2"},"is_main_result":true,"text":"2"}\n',
    b'{"type":"end"}\n',
)


async def canned_run(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST .../execute answered as the front end answers ``1+1`` (ndjson.NDJSONResponse)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/x-ndjson")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": RUN_LINES[0], "more_body": True})
    await send({"type": "http.response.body", "body": RUN_LINES[1], "more_body": True})
    await send({"type": "http.response.body", "body": RUN_LINES[2], "more_body": False})


async def canned_socket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """/runs answered as the front end answers ``1+1`` on it (api/run_socket.py)."""
    if scope["type"] != "websocket":
        return
    await receive()  # the upgrade
    await send({"type": "websocket.accept"})
    while (await receive())["type"] == "websocket.receive":
        for line in RUN_LINES:
            await send({"type": "websocket.send", "text": line[:-1].decode()})


class Canned(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(CANNED)


class Passing:
    """A pure ASGI layer that reads the scope and passes the request on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/nowhere"):
            return
        await self.app(scope, receive, send)


def fastapi_app(layers: int) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    for _ in range(layers):
        app.add_middleware(Passing)
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app: Any) -> int:
    """``app`` (None: the canned protocol) served on a uvloop loop of its own; its port."""
    import uvicorn
    import uvloop

    loop, port = uvloop.new_event_loop(), free_port()
    if app is None:

        async def main() -> None:
            server = await loop.create_server(Canned, "127.0.0.1", port)
            await server.serve_forever()

        coroutine: Any = main()
    else:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        coroutine = uvicorn.Server(config).serve()
    threading.Thread(target=loop.run_until_complete, args=(coroutine,), daemon=True).start()
    return port


def echo() -> tuple[int, int]:
    """A process echoing what it is sent on a loopback TCP port (one connection, within 60 s);
    the port and its PID."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = int(listener.getsockname()[1])
    pid = os.fork()
    if pid == 0:
        try:
            listener.settimeout(60)
            conn, _ = listener.accept()
            conn.settimeout(None)
            while data := conn.recv(4096):
                conn.sendall(data)
        finally:
            os._exit(0)
    listener.close()
    return port, pid


def client(targets: dict[str, int], rounds: int) -> None:
    import http.client
    from datetime import datetime

    from interpreter_sdk import Sandbox
    from interpreter_sdk._base import ConnectionConfig
    from interpreter_sdk._models import SandboxInfo

    echo_port = targets.pop("tcp ping-pong")
    run_port, socket_port = targets.pop(CANNED_RUN), targets.pop(CANNED_SOCKET)
    at = datetime.now()
    info = SandboxInfo("x", "t", "running", at, at, 1, 512, {})
    sbx = Sandbox(info, ConnectionConfig.resolve(f"http://127.0.0.1:{run_port}", "k"))
    over_socket = Sandbox(info, ConnectionConfig.resolve(f"http://127.0.0.1:{socket_port}", "k"))
    over_socket._runs._first = False  # no first run over HTTP: this server has none
    pong = socket.create_connection(("127.0.0.1", echo_port))
    pong.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connections = {n: http.client.HTTPConnection("127.0.0.1", p) for n, p in targets.items()}
    samples: dict[str, list[float]] = {"tcp ping-pong": [], **{n: [] for n in targets}}
    samples[CANNED_RUN], samples[CANNED_SOCKET] = [], []
    for i in range(rounds + WARMUP):
        t = time.perf_counter()
        pong.sendall(b"x" * 200)
        got = 0
        while got < 200:
            got += len(pong.recv(4096))
        elapsed = {"tcp ping-pong": time.perf_counter() - t}
        time.sleep(SPACING)
        for name, connection in connections.items():
            t = time.perf_counter()
            connection.request("GET", "/health")
            response = connection.getresponse()
            assert response.status == 200 and response.read() == BODY
            elapsed[name] = time.perf_counter() - t
            time.sleep(SPACING)
        t = time.perf_counter()
        assert sbx.run_code("1+1").text == "2"
        elapsed[CANNED_RUN] = time.perf_counter() - t
        time.sleep(SPACING)
        t = time.perf_counter()
        assert over_socket.run_code("1+1").text == "2"
        elapsed[CANNED_SOCKET] = time.perf_counter() - t
        time.sleep(SPACING)
        if i >= WARMUP:
            for name, value in elapsed.items():
                samples[name].append(value)
    pong.close()
    print(json.dumps(samples))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(json.loads(args.client), args.rounds)
        return
    from benchmarks.stats import pct

    echo_port, echo_pid = echo()  # first: forked before the servers' threads
    targets = {
        "tcp ping-pong": echo_port,
        "raw uvloop protocol": serve(None),
        "uvicorn + bare ASGI": serve(bare),
        "uvicorn + FastAPI, one route": serve(fastapi_app(0)),
        "uvicorn + FastAPI, one route, the front end's middleware": serve(fastapi_app(3)),
        CANNED_RUN: serve(canned_run),
        CANNED_SOCKET: serve(canned_socket),
    }
    time.sleep(2)  # the servers are up
    argv = [sys.executable, __file__, "--rounds", str(args.rounds), "--client", json.dumps(targets)]
    try:
        done = subprocess.run(argv, check=True, capture_output=True, text=True)
    finally:
        os.kill(echo_pid, 9)
        os.waitpid(echo_pid, 0)
    samples = json.loads(done.stdout)
    print(f"{args.rounds} rounds, interleaved, one request every {SPACING * 1e3:.0f} ms")
    print("| round trip | p50 (ms) | p99 (ms) |")
    print("|---|---|---|")
    for name, values in samples.items():
        print(f"| {name} | {pct(values, 50) * 1e3:.3f} | {pct(values, 99) * 1e3:.3f} |")


if __name__ == "__main__":
    main()
