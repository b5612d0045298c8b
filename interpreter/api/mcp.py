"""/mcp: the MCP server (``interpreter.mcp``) on streamable HTTP, in the front end's process.

The key comes as a bearer token (``Authorization: Bearer <API key>``: what MCP hosts send),
checked on the headers before anything else happens, by the request guard's policy and here;
without it the answer is 401 with the native error body and ``WWW-Authenticate: Bearer``.

The tools are the ones ``interpreter mcp`` serves over stdio: written on the Python SDK, they
call this front end over loopback with its own key, so a sandbox is driven one way, through
the API, whichever the transport (see ``interpreter/mcp/__init__.py``).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.requests import HTTPConnection
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from interpreter.api import errors
from interpreter.core.config import Settings
from interpreter.core.errors import AuthenticationError, InterpreterError
from interpreter.mcp.conversations import Link
from interpreter.mcp.http import MCPEndpoint
from interpreter.service.manager import SandboxManager

log = logging.getLogger(__name__)
PATH = "/mcp"


def require_bearer_key(connection: HTTPConnection) -> None:
    """The API key as ``Authorization: Bearer <key>`` (the /mcp route's key check)."""
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    expected: str = connection.app.state.api_key
    if scheme.lower() != "bearer" or not given.strip():
        raise AuthenticationError("missing Authorization: Bearer <API key> header")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise AuthenticationError("invalid API key")


class MCPRoute:
    """The ASGI app at /mcp: the key check, then the MCP endpoint."""

    def __init__(self, endpoint: MCPEndpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            require_bearer_key(HTTPConnection(scope))
        except AuthenticationError as exc:
            content = json.dumps(errors.body(type(exc).__name__, str(exc))).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"www-authenticate", b'Bearer realm="interpreter"'),
            ]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": content})
            return
        await self.endpoint(scope, receive, send)


def loopback_url(settings: Settings) -> str:
    """Where this front end answers itself: its listening address, a wildcard one made the
    loopback of its family."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def endpoint_for(settings: Settings, api_key: str) -> MCPEndpoint:
    """The MCP endpoint of this front end: its tools call it back with its own key."""
    return MCPEndpoint(
        Link(loopback_url(settings), api_key),
        idle_timeout=settings.mcp_idle_timeout,
        max_body=settings.max_body_mb << 20,
    )


def mount(app: FastAPI, endpoint: MCPEndpoint) -> None:
    """Serve ``endpoint`` at /mcp behind the key check; ``serving`` goes in the lifespan."""
    # A plain starlette route: its endpoint is an ASGI app (streams both ways), not a handler.
    route = Route(PATH, MCPRoute(endpoint), methods=["GET", "POST", "DELETE"])
    app.router.routes.append(route)


@contextlib.asynccontextmanager
async def serving(endpoint: MCPEndpoint, manager: SandboxManager) -> AsyncIterator[None]:
    """Run the endpoint; at the end, kill the open sessions' sandboxes through the core: by
    then the server no longer listens, so the tools' loopback cannot do it."""
    async with endpoint.run():
        try:
            yield
        finally:
            for sandbox_id in await endpoint.conversations.release():
                try:
                    await manager.kill(sandbox_id)
                except InterpreterError as exc:  # gone already, most likely
                    log.info("MCP sandbox %s at shutdown: %s", sandbox_id, exc)
