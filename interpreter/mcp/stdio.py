"""``interpreter mcp``: the MCP server over stdio, for a host that starts it as a process. It
is a client of a running service (INTERPRETER_API_URL / INTERPRETER_API_KEY); the process is
one conversation, whose sandboxes are killed when the host closes its stdin or stops it."""

from __future__ import annotations

import signal

import anyio
from mcp.server.stdio import stdio_server

from interpreter.mcp.conversations import Conversations, Link
from interpreter.mcp.server import build_server


def serve_stdio(link: Link, idle_timeout: float) -> None:
    """Serve MCP on stdin/stdout until stdin closes, SIGTERM or SIGINT."""
    anyio.run(_serve, link, idle_timeout)


async def _serve(link: Link, idle_timeout: float) -> None:
    server = build_server(lambda: Conversations(link, idle_timeout))
    async with anyio.create_task_group() as group:
        # Hosts stop their servers with SIGTERM: cancelling (not dying) lets the lifespan
        # kill the conversation's sandboxes on the way out.
        group.start_soon(_cancel_on_signal, group.cancel_scope)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        group.cancel_scope.cancel()


async def _cancel_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return
