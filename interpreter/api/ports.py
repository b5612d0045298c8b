"""A sandbox's ports from outside, for both surfaces: the native route
``/v1/sandboxes/{id}/ports/{port}/{path}`` and E2B's ``{port}-{id}.{domain}`` hosts. HTTP is
streamed both ways; a websocket is relayed message by message (websockets' client over the
tunnel). A paused sandbox is resumed first, as for any request that needs it running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from interpreter.core.errors import GatewayError
from interpreter.service import ports
from interpreter.service.manager import SandboxManager

MAX_MESSAGE = 16 << 20


async def proxy_http(
    request: Request, sandboxes: SandboxManager, sandbox_id: str, port: int, path: str
) -> Response:
    sock, early = await sandboxes.open_port(sandbox_id, ports.checked_port(port))
    exchange = ports.HttpExchange(sock, early)
    try:
        target = "/" + path + (f"?{request.url.query}" if request.url.query else "")
        length = request.headers.get("content-length")
        chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
        size = int(length) if length and length.isdigit() else (None if chunked else 0)
        body: AsyncIterator[bytes] = request.stream()
        sent = ports.request_headers(list(request.headers.items()))
        response = await exchange.send(request.method, target, port, sent, body, size)
    except BaseException:
        exchange.close()
        raise
    answer = StreamingResponse(exchange.body(), status_code=response.status_code)
    # As a list: a server may send a header more than once (Set-Cookie, Link, Vary...).
    answer.raw_headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in ports.response_headers(response)
    ]
    return answer


async def proxy_websocket(
    websocket: WebSocket, sandboxes: SandboxManager, sandbox_id: str, port: int, path: str
) -> None:
    sock, _ = await sandboxes.open_port(sandbox_id, ports.checked_port(port))
    query = websocket.url.query
    uri = f"ws://127.0.0.1:{port}/{path}" + (f"?{query}" if query else "")
    offered = websocket.headers.get("sec-websocket-protocol", "")
    protocols = [Subprotocol(p.strip()) for p in offered.split(",") if p.strip()]
    try:
        upstream = await connect(
            uri, sock=sock, max_size=MAX_MESSAGE, subprotocols=protocols or None
        )
    except (OSError, InvalidHandshake) as exc:
        sock.close()
        raise GatewayError(f"the websocket on port {port} refused: {exc}") from exc
    await websocket.accept(subprotocol=upstream.subprotocol)
    async with upstream:

        async def down() -> None:
            async for message in upstream:
                if isinstance(message, bytes):
                    await websocket.send_bytes(message)
                else:
                    await websocket.send_text(message)

        async def up() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await upstream.send(message["bytes"])
                elif message.get("text") is not None:
                    await upstream.send(message["text"])

        tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except (ConnectionClosed, WebSocketDisconnect):
            pass
        finally:
            for task in tasks:
                task.cancel()
    with contextlib.suppress(RuntimeError):  # already closed by the client
        await websocket.close()
