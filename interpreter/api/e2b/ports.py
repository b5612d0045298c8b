"""E2B's hosts for a sandbox's own servers: ``{port}-{sandboxId}.{domain}`` (what the SDKs'
``get_host(port)`` returns) for any port but envd's and the code interpreter's, HTTP and
websockets, proxied as the native ``/v1/sandboxes/{id}/ports/{port}/...`` route does. Sandbox
URLs accept traffic without a token, as E2B's default (``allowPublicTraffic``) has them; a
sandbox created with ``allowPublicTraffic: false`` wants its ``E2B-Traffic-Access-Token``."""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers

from interpreter.api.e2b import tokens
from interpreter.api.e2b.routing import sandbox_unavailable, target
from interpreter.api.ports import proxy_http, proxy_websocket
from interpreter.core.errors import InterpreterError, NotFoundError
from interpreter.service.manager import SandboxManager

TOKEN_NEEDED = "this sandbox's ports need its E2B-Traffic-Access-Token"
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
        if not _admitted(manager, found.sandbox_id or "", request.headers):
            return JSONResponse({"code": 403, "message": TOKEN_NEEDED}, status_code=403)
        return await proxy_http(request, manager, found.sandbox_id or "", found.port, path)

    @app.websocket("/{path:path}")
    async def websocket(path: str, websocket: WebSocket) -> None:
        found = websocket.scope["e2b.target"]
        manager: SandboxManager = websocket.app.state.manager
        if not _admitted(manager, found.sandbox_id or "", websocket.headers):
            await websocket.close(code=1008, reason=TOKEN_NEEDED)
            return
        await proxy_websocket(websocket, manager, found.sandbox_id or "", found.port, path)

    return app


def _admitted(manager: SandboxManager, sandbox_id: str, headers: Headers) -> bool:
    record = manager.reachable(sandbox_id)  # NotFoundError: E2B's 502 (unknown, or paused)
    if record.network.public:
        return True
    given = headers.get("e2b-traffic-access-token", "")
    expected = tokens.traffic_access_token(manager.signer.key, sandbox_id)
    return hmac.compare_digest(given.encode(), expected.encode())
