"""A call to a sandbox's agent that the host's kill or pause cuts off is a SandboxGoneError (the
sandbox is gone), not a GatewayError (the sandbox answered badly)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from interpreter.core.errors import GatewayError, SandboxGoneError
from interpreter.core.sandbox_fs import SandboxSocket
from interpreter.service.agent_client import AgentClient


async def _hanging_agent(path: Path) -> asyncio.AbstractServer:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(30)

    return await asyncio.start_unix_server(hang, path)


def test_a_call_cut_off_by_the_hosts_kill_is_sandbox_gone(tmp_path: Path) -> None:
    async def main() -> None:
        server = await _hanging_agent(tmp_path / "agent.sock")
        client = AgentClient(SandboxSocket(tmp_path, ("agent.sock",), os.getuid()))
        call = asyncio.create_task(client.call("GET", "/files/info"))
        await asyncio.sleep(0.2)  # the answer has begun
        await client.close("killed")
        server.close()
        with pytest.raises(SandboxGoneError, match="killed"):
            await asyncio.wait_for(call, 10)
        with pytest.raises(SandboxGoneError, match="killed"):  # and nothing after it
            await client.call("GET", "/health")

    asyncio.run(main())


def test_an_agent_that_breaks_on_its_own_is_a_gateway_error(tmp_path: Path) -> None:
    async def main() -> None:
        client = AgentClient(
            SandboxSocket(tmp_path, ("agent.sock",), os.getuid())
        )  # nothing listens
        try:
            with pytest.raises(GatewayError) as error:
                await client.call("GET", "/files/info")
            assert not isinstance(error.value, SandboxGoneError)
        finally:
            await client.close()

    asyncio.run(main())
