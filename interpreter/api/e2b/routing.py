"""Demultiplexing E2B traffic that shares one origin with the native API.

The official SDKs send every in-sandbox request to ``E2B_SANDBOX_URL`` with the target in the
``E2b-Sandbox-Id`` and ``E2b-Sandbox-Port`` headers (older ones use hosts like
``49983-<id>.<domain>``). The path decides control plane or data plane: some SDK versions also put
these headers on control-plane calls, and only ``/health`` exists on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

ENVD_PORT = 49983
JUPYTER_PORT = 49999

ENVD_PATHS = re.compile(
    r"^/(files|health|metrics|envs|process\.Process/\w+|filesystem\.Filesystem/\w+)$"
)
JUPYTER_PATHS = re.compile(r"^/(execute|health|contexts(/[^/]+(/restart)?)?)$")
HOST = re.compile(r"^(\d+)-([a-z0-9]+)(-[a-z0-9]+)?\.")  # {port}-{sandboxId}[-{clientId}].{domain}


@dataclass(frozen=True)
class Target:
    sandbox_id: str | None  # None: not named (a signed /files URL names it by its signature)
    port: int


def target_of(scope: Scope) -> Target | None:
    """The sandbox and port a data-plane request is for, or None for control-plane traffic."""
    headers = Headers(scope=scope)
    path: str = scope["path"]
    sandbox_id, port = headers.get("e2b-sandbox-id"), headers.get("e2b-sandbox-port")
    if sandbox_id is None:
        match = HOST.match(headers.get("host", ""))
        if match:
            port, sandbox_id = match.group(1), match.group(2)
    if sandbox_id is not None:
        # Very old SDKs send "<sandboxId>-<clientId>".
        sandbox_id = sandbox_id.split("-", 1)[0]
        number = int(port) if port and port.isdigit() else ENVD_PORT
        if number not in (ENVD_PORT, JUPYTER_PORT):
            return Target(sandbox_id, number)  # a server of the sandbox's own (api/e2b/ports)
        if number == JUPYTER_PORT and JUPYTER_PATHS.match(path):
            return Target(sandbox_id, number)
        if number != JUPYTER_PORT and ENVD_PATHS.match(path):
            return Target(sandbox_id, number)
        return None
    if path == "/files":  # download_url()/upload_url(): no headers, a signature in the query
        return Target(None, ENVD_PORT)
    return None


class SandboxTrafficRouter:
    """ASGI middleware: data-plane requests go to the envd or code-interpreter app."""

    def __init__(self, app: ASGIApp, envd: ASGIApp, jupyter: ASGIApp, ports: ASGIApp) -> None:
        self.app, self.envd, self.jupyter, self.ports = app, envd, jupyter, ports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            target = target_of(scope)
            if target is not None:
                scope["e2b.target"] = target
                apps = {JUPYTER_PORT: self.jupyter, ENVD_PORT: self.envd}
                await apps.get(target.port, self.ports)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def target(request: Request) -> Target:
    found: Target = request.scope["e2b.target"]  # set by the router before the route runs
    return found


def sandbox_unavailable(sandbox_id: str | None) -> JSONResponse:
    """What E2B's proxy answers for an unknown, killed or stopped sandbox (SDKs map 502)."""
    return JSONResponse(
        {"sandboxId": sandbox_id or "", "message": "The sandbox was not found", "code": 502},
        status_code=502,
    )
