"""E2B's hosts for a sandbox's own servers: ``{port}-{sandboxId}.{domain}`` (what the SDKs'
``get_host(port)`` returns) for any port but envd's and the code interpreter's, HTTP and
websockets, proxied as the native ``/v1/sandboxes/{id}/ports/{port}/...`` route does. Sandbox
URLs accept traffic without a token, as E2B's default (``allowPublicTraffic``) has them."""

from __future__ import annotations

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response

from interpreter.api.e2b.routing import sandbox_unavailable, target
from interpreter.api.ports import proxy_http, proxy_websocket
from interpreter.core.errors import InterpreterError, NotFoundError
from interpreter.service.manager import SandboxManager

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(NotFoundError)
    async def gone(request: Request, exc: NotFoundError) -> Response:
        return sandbox_unavailable(target(request).sandbox_id)

    @app.exception_handler(InterpreterError)
    async def failed(request: Request, exc: InterpreterError) -> Response:
        return JSONResponse({"code": 502, "message": str(exc)}, status_code=502)

    @app.api_route("/{path:path}", methods=METHODS)
    async def http(path: str, request: Request) -> Response:
        found = target(request)
        manager: SandboxManager = request.app.state.manager
        return await proxy_http(request, manager, found.sandbox_id or "", found.port, path)

    @app.websocket("/{path:path}")
    async def websocket(path: str, websocket: WebSocket) -> None:
        found = websocket.scope["e2b.target"]
        manager: SandboxManager = websocket.app.state.manager
        await proxy_websocket(websocket, manager, found.sandbox_id or "", found.port, path)

    return app
