"""/jupyter/{sandbox_id}: a sandbox as a Jupyter Kernel Gateway, for Jupyter's own clients
(``jupyter lab --gateway-url=URL/jupyter/ID --GatewayClient.auth_token=KEY``, jupyter_client,
nbclient). The API key is Jupyter's token: ``Authorization: token KEY``, ``?token=KEY`` or
``X-API-Key``. The work is service/jupyter_attach.py's."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, WebSocket
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from interpreter.api.errors import answers
from interpreter.core.errors import (
    AuthenticationError,
    ConflictError,
    InterpreterError,
    NotFoundError,
)
from interpreter.service.jupyter_attach import JupyterAttach
from interpreter.service.manager import SandboxManager

MAX_CLIENT_BODY = 1 << 20  # a kernel start or a rename: small JSON


def require_token(connection: HTTPConnection) -> None:
    given = connection.headers.get("X-API-Key") or connection.query_params.get("token")
    scheme, _, value = connection.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("token", "bearer") and value:
        given = value.strip()
    expected: str = connection.app.state.api_key
    if not given:
        raise AuthenticationError("missing token: Authorization: token KEY, or ?token=KEY")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationError("invalid token")


router = APIRouter(
    prefix="/jupyter/{sandbox_id}",
    tags=["jupyter"],
    dependencies=[Depends(require_token)],
    responses=answers(AuthenticationError, NotFoundError, ConflictError),
)


def attach(connection: HTTPConnection) -> JupyterAttach:
    sandboxes: SandboxManager = connection.app.state.manager
    return JupyterAttach(sandboxes)


Attach = Annotated[JupyterAttach, Depends(attach)]


@router.websocket("/api/kernels/{kernel_id}/channels")
async def kernel_channels(
    websocket: WebSocket, sandbox_id: str, kernel_id: str, jupyter: Attach
) -> None:
    try:
        channels = await jupyter.channels(sandbox_id, kernel_id)
    except InterpreterError as exc:
        await websocket.close(code=1011 if not isinstance(exc, NotFoundError) else 4004,
                              reason=str(exc)[:120])  # fmt: skip
        return
    await websocket.accept()

    async def to_client() -> None:
        async for frame in channels.received():
            if isinstance(frame, bytes):
                await websocket.send_bytes(frame)
            else:
                await websocket.send_text(frame)

    async def to_kernel() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("text")
            await channels.send(frame if frame is not None else message.get("bytes") or b"")

    # Whichever side ends first ends both: a kernel gone closes the client's socket (1011).
    relays = [asyncio.create_task(to_client()), asyncio.create_task(to_kernel())]
    try:
        done, _ = await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
        upstream_ended = relays[0] in done
    finally:
        for task in relays:
            task.cancel()
        for task in relays:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
        await channels.close()
    if upstream_ended:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=1011, reason="the kernel's channel closed")


@router.api_route("/{path:path}", methods=["GET", "POST", "DELETE", "PATCH"])
async def gateway_rest(sandbox_id: str, path: str, request: Request, jupyter: Attach) -> Response:
    """The gateway's REST API (``/api``, ``/api/kernelspecs``, ``/api/kernels``...)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CLIENT_BODY:
            return Response(status_code=413)
    params = dict(request.query_params)
    params.pop("token", None)
    status, kind, answer = await jupyter.rest(
        sandbox_id, request.method, path.strip("/"), body, params
    )
    # The gateway's JSON, or a kernelspec's logo; never a page to render here.
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
    return Response(answer, status_code=status, media_type=kind, headers=headers)
