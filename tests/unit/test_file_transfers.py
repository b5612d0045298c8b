"""Issue 19, item 5: a file's bytes pass the front end on a connection of their own (the agent's
answer head read by h11, the body straight from the socket) and the agent splices an upload into
the file. What the sandbox sends is still bounded and checked: a short or malformed answer is a
GatewayError, a kill cuts a transfer off as SandboxGoneError, a refusal keeps its error type."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from interpreter.core.errors import (
    FileNotFoundInSandboxError,
    GatewayError,
    PermissionDeniedError,
    SandboxGoneError,
)
from interpreter.core.sandbox_fs import SandboxSocket
from interpreter.service.agent_client import MAX_HEAD, AgentClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sandbox"))
from agent import upload  # noqa: E402

Agent = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _run(tmp_path: Path, agent: Agent, body: Callable[[AgentClient], Awaitable[None]]) -> None:
    async def main() -> None:
        server = await asyncio.start_unix_server(agent, tmp_path / "agent.sock")
        client = AgentClient(SandboxSocket(tmp_path, ("agent.sock",), os.getuid()))
        try:
            await asyncio.wait_for(body(client), 20)
        finally:
            await client.close()
            server.close()

    asyncio.run(main())


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def test_a_download_is_the_agents_bytes_exactly(tmp_path: Path) -> None:
    content = os.urandom(3 << 20)
    heads: list[bytes] = []

    async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await _head(reader))
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(content)
        )
        for start in range(0, len(content), 100_000):  # pieces of odd sizes
            writer.write(content[start : start + 100_000])
            await writer.drain()
        writer.close()

    async def check(client: AgentClient) -> None:
        size, chunks = await client.download({"path": "/a b/ü", "user": "user"})
        assert size == len(content)
        assert await _collect(chunks) == content

    _run(tmp_path, agent, check)
    assert heads[0].startswith(b"GET /files?path=%2Fa+b%2F%C3%BC&user=user HTTP/1.1\r\n")


def test_a_short_download_is_a_gateway_error(tmp_path: Path) -> None:
    async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        writer.close()

    async def check(client: AgentClient) -> None:
        _, chunks = await client.download({"path": "x"})
        with pytest.raises(GatewayError) as error:
            await _collect(chunks)
        assert not isinstance(error.value, SandboxGoneError)

    _run(tmp_path, agent, check)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n\r\n",  # no Content-Length
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_HEAD + b"\r\n\r\n",  # an endless head
        b"garbage\r\n\r\n",
    ],
)
def test_a_malformed_download_answer_is_a_gateway_error(tmp_path: Path, answer: bytes) -> None:
    async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def check(client: AgentClient) -> None:
        with pytest.raises(GatewayError):
            await client.download({"path": "x"})

    _run(tmp_path, agent, check)


def test_a_refused_download_keeps_its_error(tmp_path: Path) -> None:
    async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        body = b'{"error": {"type": "FileNotFoundError", "message": "no such file: /x"}}'
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        writer.close()

    async def check(client: AgentClient) -> None:
        with pytest.raises(FileNotFoundInSandboxError, match="no such file"):
            await client.download({"path": "/x"})

    _run(tmp_path, agent, check)


def test_a_download_cut_off_by_a_kill_is_sandbox_gone(tmp_path: Path) -> None:
    async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome")
        await writer.drain()
        await asyncio.sleep(30)  # a frozen sandbox: the socket stays open

    async def check(client: AgentClient) -> None:
        _, chunks = await client.download({"path": "x"})
        reading = asyncio.ensure_future(_collect(chunks))
        await asyncio.sleep(0.2)
        await client.close("paused")
        with pytest.raises(SandboxGoneError, match="paused"):
            await reading

    _run(tmp_path, agent, check)


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += await reader.readexactly(size)
        assert await reader.readexactly(2) == b"\r\n"
    assert await reader.readexactly(2) == b"\r\n"
    return body


async def _parts(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize("declared", [False, True])
def test_an_upload_is_sent_after_100_continue(tmp_path: Path, declared: bool) -> None:
    content = [os.urandom(300_000), b"", os.urandom(5)]
    received: list[bytes] = []

    async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await _head(reader)).lower()
        assert b"expect: 100-continue" in head
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if declared:
            assert b"content-length: 300005" in head
            received.append(await reader.readexactly(300_005))
        else:
            assert b"transfer-encoding: chunked" in head
            received.append(await _chunked(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        writer.close()

    async def check(client: AgentClient) -> None:
        size = 300_005 if declared else None
        assert await client.upload({"path": "x"}, _parts(*content), size) == b"{}"

    _run(tmp_path, agent, check)
    assert received == [b"".join(content)]


def test_an_upload_refused_before_its_body_sends_none_of_it(tmp_path: Path) -> None:
    sent: list[bytes] = []

    async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        body = b'{"error": {"type": "PermissionError", "message": "permission denied: /x"}}'
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        sent.append(await reader.read())  # until the host closes

    async def body() -> AsyncIterator[bytes]:
        yield b"never"

    async def check(client: AgentClient) -> None:
        with pytest.raises(PermissionDeniedError):
            await client.upload({"path": "/x"}, body())

    _run(tmp_path, agent, check)
    assert sent == [b""]


def _receive(tmp_path: Path, wire: bytes, length: int | None) -> bytes:
    """What the agent's upload receiver writes to the file from ``wire``."""
    target = tmp_path / "file"
    host, agent = socket.socketpair()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def send() -> None:
        host.sendall(wire)
        host.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)  # a socketpair holds less than the wire
    sender.start()
    try:
        upload.receive(agent, fd, length)
    finally:
        agent.close()  # a receiver that stopped early: the sender ends too
        sender.join()
        os.close(fd)
        host.close()
    return target.read_bytes()


def test_the_agent_splices_both_framings(tmp_path: Path) -> None:
    data = os.urandom(1 << 21)
    assert _receive(tmp_path, data, len(data)) == data
    wire = b"10000;ext=1\r\n" + data[: 1 << 16] + b"\r\n"
    wire += b"%x\r\n" % (len(data) - (1 << 16)) + data[1 << 16 :] + b"\r\n0\r\nTrailer: x\r\n\r\n"
    assert _receive(tmp_path, wire, None) == data
    assert _receive(tmp_path, b"0\r\n\r\n", None) == b""


@pytest.mark.parametrize(
    ("wire", "length"),
    [
        (b"short", 10),  # broke off
        (b"5\r\nabc", None),  # broke off in a chunk
        (b"zz\r\nabc\r\n", None),  # not a size
        (b"3\r\nabcXY0\r\n\r\n", None),  # no CRLF after the chunk
        (b"1" * 2000, None),  # an endless size line
    ],
)
def test_the_agent_refuses_a_broken_body(tmp_path: Path, wire: bytes, length: int | None) -> None:
    with pytest.raises(upload.BodyError):
        _receive(tmp_path, wire, length)
