"""The MCP server over streamable HTTP, as an ASGI app to mount (the front end's /mcp).

Stateful sessions (``Mcp-Session-Id``): a session is a conversation with its own sandbox. A
session ends when its client sends DELETE (the ``mcp`` client does when it closes) or after
``idle_timeout`` seconds without a request; the first kills its sandboxes here, the second
lets them expire (they live ``idle_timeout`` from their last use). Who may call is not decided
here: the app that mounts this checks the key first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from interpreter.mcp.conversations import Conversations, Link
from interpreter.mcp.server import SESSION_HEADER, build_server

DEFAULT_IDLE_TIMEOUT = 1800.0  # seconds; the mcp SDK's own default for idle sessions


class MCPEndpoint:
    """ASGI app serving MCP's streamable HTTP transport; ``run()`` must be entered (in the
    mounting app's lifespan) before it serves."""

    def __init__(self, link: Link, idle_timeout: float, max_body: int) -> None:
        self.conversations = Conversations(link, idle_timeout)
        server = build_server(lambda: self.conversations)
        self.sessions = StreamableHTTPSessionManager(
            app=server,
            session_idle_timeout=idle_timeout,
            max_request_body_size=max_body,
            # No Host / Origin allow-list (the SDK's DNS-rebinding guard): every request
            # carries the API key, which a rebound page cannot have, and the front end may
            # be reached by any name.
            security_settings=None,
        )

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Serve until left; leaving ends every session (their sandboxes are killed)."""
        async with self.sessions.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = Headers(scope=scope).get(SESSION_HEADER)
        if scope.get("method") != "DELETE" or session is None:
            await self.sessions.handle_request(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.sessions.handle_request(scope, receive, watch)
        if 200 <= status < 300:  # the session is over: so is its conversation
            await self.conversations.end(session)
