"""E2B envd (port 49983): plain HTTP (``/health``, ``/files``, ``/envs``) and the Connect-protocol
JSON services ``process.Process`` and ``filesystem.Filesystem``.

Every route answers for the sandbox named by the request (``E2b-Sandbox-Id``; a signed ``/files``
URL names it by its signature), with the proxy's 502 when that sandbox is unknown or was
killed. The Connect framing is hand-written (see ``connect`` for why).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from interpreter.api.e2b.envd import connect, errors, filesystem, process
from interpreter.api.e2b.envd.connect import ConnectError
from interpreter.api.e2b.envd.files import router as files_router

Unary = Callable[[Request, connect.Message], Awaitable[connect.Message]]
Stream = Callable[[Request], Awaitable[Response]]


async def _call(
    request: Request, method: str, unary: dict[str, Any], streams: Mapping[str, Stream]
) -> Response:
    if method in streams:
        return await streams[method](request)
    handler: Unary | None = unary.get(method)
    try:
        if handler is None:
            raise ConnectError("unimplemented", f"unknown method {method!r}")
        message = await connect.unary_request(request)
        return connect.unary_response(await handler(request, message))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a typed Connect error
        return errors.connect_response(exc)


def create_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(files_router)
    filesystem_unary = filesystem.unary_methods(filesystem.PollingWatchers())

    @app.post("/process.Process/{method}")
    async def process_service(request: Request, method: str) -> Response:
        return await _call(request, method, process.UNARY, process.STREAMS)

    @app.post("/filesystem.Filesystem/{method}")
    async def filesystem_service(request: Request, method: str) -> Response:
        return await _call(request, method, filesystem_unary, filesystem.STREAMS)

    return app
