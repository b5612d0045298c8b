"""A sandbox's TCP ports, reached from the front end through the sandbox's agent: each
connection is a byte tunnel (``GET /ports/<port>/tunnel`` upgraded), so a port is reachable
whatever the sandbox's network is, and nothing is exposed on the host's network.

What comes back is the sandbox's: the tunnel's answer and the HTTP head of a proxied response
are bounded, and parsed by h11 (httpx's HTTP/1.1 engine), never trusted for more.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterable

import h11

from interpreter.core.errors import GatewayError, InvalidRequestError, PortNotOpenError
from interpreter.core.sandbox_fs import SandboxSocket

MAX_HEAD = 64 << 10
CHUNK = 64 << 10
CONNECT_SECONDS = 15.0
# Not forwarded either way: they describe one hop (RFC 9110 7.6.1), or are the front end's.
HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host", "x-api-key", "e2b-traffic-access-token",
     "x-access-token", "e2b-sandbox-id", "e2b-sandbox-port", "content-length"}
)  # fmt: skip


# The front end's own cookies (the notebook view's session and shared views: api/deps.py). A
# sandbox's server never reads them (a request through a port keeps every other cookie) nor
# sets them (its Set-Cookie for one of these names is dropped).
SESSION_COOKIE = "interpreter_session"
VIEW_COOKIE = "interpreter_view"
FRONT_END_COOKIES = frozenset({SESSION_COOKIE, VIEW_COOKIE})


def _ours(pair: str) -> bool:
    return pair.split("=", 1)[0].strip() in FRONT_END_COOKIES


def request_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A client's headers for a sandbox's server: without the front end's own cookies."""
    kept = []
    for name, value in headers:
        if name.lower() == "cookie":
            value = "; ".join(p.strip() for p in value.split(";") if p.strip() and not _ours(p))
            if not value:
                continue
        kept.append((name, value))
    return kept


def checked_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise InvalidRequestError(f"port {port} is not within 1-65535")
    return port


async def open_tunnel(agent: SandboxSocket, port: int) -> tuple[socket.socket, bytes]:
    """A connected socket whose bytes reach 127.0.0.1:``port`` in the sandbox, and whatever
    the server there already sent after the tunnel's answer."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        with agent.connect_path() as path:
            await asyncio.wait_for(loop.sock_connect(sock, path), CONNECT_SECONDS)
        request = (
            f"GET /ports/{checked_port(port)}/tunnel HTTP/1.1\r\nHost: sandbox\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            if len(received) > MAX_HEAD:
                raise GatewayError("the sandbox agent sent an oversized tunnel answer")
            chunk = await asyncio.wait_for(loop.sock_recv(sock, CHUNK), CONNECT_SECONDS)
            if not chunk:
                raise GatewayError("the sandbox agent closed the tunnel")
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b""
        if status != b"101":
            raise _refusal(port, rest)
        return sock, rest
    except BaseException:
        sock.close()
        raise


def _refusal(port: int, body: bytes) -> Exception:
    try:
        error = json.loads(body[:MAX_HEAD]).get("error", {})
        kind, message = str(error.get("type", "")), str(error.get("message", ""))[:500]
    except (ValueError, AttributeError):
        kind, message = "", ""
    if kind == "PortNotOpenError":
        return PortNotOpenError(message or f"nothing answers on port {port} in the sandbox")
    if kind == "InvalidRequestError":
        return InvalidRequestError(message)
    return GatewayError(f"the sandbox agent refused the tunnel to port {port}: {message}")


class HttpExchange:
    """One HTTP/1.1 request over a tunnel, its response streamed back (then the tunnel ends)."""

    def __init__(self, sock: socket.socket, early: bytes) -> None:
        self.sock, self.early = sock, early
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)

    async def send(
        self,
        method: str,
        target: str,
        port: int,
        headers: Iterable[tuple[str, str]],
        body: AsyncIterator[bytes],
        length: int | None,
    ) -> h11.Response:
        loop = asyncio.get_running_loop()
        forwarded = [(k, v) for k, v in headers if k.lower() not in HOP_HEADERS]
        forwarded += [("host", f"127.0.0.1:{port}"), ("connection", "close")]
        forwarded.append(
            ("content-length", str(length))
            if length is not None
            else ("transfer-encoding", "chunked")
        )
        request = h11.Request(method=method, target=target or "/", headers=forwarded)
        await loop.sock_sendall(self.sock, self.conn.send(request) or b"")
        async for chunk in body:
            if chunk:
                await loop.sock_sendall(self.sock, self.conn.send(h11.Data(data=chunk)) or b"")
        await loop.sock_sendall(self.sock, self.conn.send(h11.EndOfMessage()) or b"")
        event = await self._next()
        if not isinstance(event, h11.Response):
            raise GatewayError("the sandbox's server sent no HTTP response")
        return event

    async def body(self) -> AsyncIterator[bytes]:
        try:
            while True:
                event = await self._next()
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return
        finally:
            self.close()

    def close(self) -> None:
        self.sock.close()

    async def _next(self) -> object:
        loop = asyncio.get_running_loop()
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise GatewayError(f"the sandbox's server broke HTTP: {exc}") from exc
            if event is not h11.NEED_DATA:
                if isinstance(event, h11.InformationalResponse):
                    continue  # 100 Continue: the final answer follows
                return event
            data, self.early = (self.early, b"") if self.early else (
                await loop.sock_recv(self.sock, CHUNK), b""
            )  # fmt: skip
            self.conn.receive_data(data)


def response_headers(response: h11.Response) -> list[tuple[str, str]]:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in HOP_HEADERS
        and not (name.lower() == "set-cookie" and _ours(value.split(";", 1)[0]))
    ]
