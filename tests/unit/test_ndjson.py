"""NDJSONResponse (interpreter/api/ndjson.py) driven as uvicorn drives it: the head with the first
line, the head alone when the first line is slow, an error before the head raised (an error
answer), a client gone cancels the stream (its clean-up runs) and leaves the task uncancelled,
the server's own cancel goes on up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from interpreter.api import ndjson
from interpreter.api.ndjson import NDJSONResponse


class Client:
    """An ASGI connection: what was sent, and a disconnect when the test says so."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def kinds(self) -> list[str]:
        return [m["type"].removeprefix("http.response.") for m in self.sent]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_the_head_goes_with_the_first_line_and_the_last_with_the_end() -> None:
    async def lines() -> AsyncIterator[bytes]:
        yield b"1\n"
        yield b"2\n"

    async def main() -> Client:
        client = Client()
        await NDJSONResponse(lines(), last=b"end\n")({}, client.receive, client.send)
        return client

    client = run(main())
    assert client.kinds() == ["start", "body", "body", "body"]
    assert [m.get("body") for m in client.sent[1:]] == [b"1\n", b"2\n", b"end\n"]
    assert client.sent[-1]["more_body"] is False


def test_a_slow_first_line_gets_the_head_alone_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ndjson, "HEAD_WAIT", 0.01)
    kinds_at_first_line: list[str] = []

    async def main() -> Client:
        client = Client()

        async def lines() -> AsyncIterator[bytes]:
            await asyncio.sleep(0.1)
            kinds_at_first_line.extend(client.kinds())
            yield b"late\n"

        await NDJSONResponse(lines())({}, client.receive, client.send)
        return client

    client = run(main())
    assert kinds_at_first_line == ["start"]
    assert client.kinds() == ["start", "body", "body"]


def test_an_error_before_the_first_line_sends_nothing() -> None:
    async def lines() -> AsyncIterator[bytes]:
        raise LookupError("no such context")
        yield b""  # pragma: no cover

    async def main() -> Client:
        client = Client()
        with pytest.raises(LookupError):
            await NDJSONResponse(lines())({}, client.receive, client.send)
        return client

    assert run(main()).sent == []  # the app's error handler answers instead


def test_a_client_gone_cancels_the_stream_and_the_task_goes_on() -> None:
    cleaned = asyncio.Event()

    async def main() -> tuple[Client, int]:
        client = Client()

        async def lines() -> AsyncIterator[bytes]:
            try:
                yield b"first\n"
                client.gone.set()  # the client leaves while the run goes on
                await asyncio.sleep(60)
                yield b"never\n"
            finally:
                cleaned.set()

        await NDJSONResponse(lines())({}, client.receive, client.send)
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0)  # the task is usable after: not cancelled again
        return client, task.cancelling()

    client, cancelling = asyncio.run(asyncio.wait_for(main(), 10))
    assert cleaned.is_set()
    assert cancelling == 0
    assert b"never\n" not in [m.get("body") for m in client.sent]


def test_a_clean_up_that_raises_still_leaves_the_task_uncancelled() -> None:
    async def main() -> int:
        client = Client()

        async def lines() -> AsyncIterator[bytes]:
            try:
                yield b"first\n"
                client.gone.set()
                await asyncio.sleep(60)
                yield b"never\n"
            finally:
                raise OSError("the kernel's connection broke while tidying up")

        with pytest.raises(OSError):
            await NDJSONResponse(lines())({}, client.receive, client.send)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert asyncio.run(asyncio.wait_for(main(), 10)) == 0


def test_the_servers_cancel_goes_on_up() -> None:
    async def main() -> None:
        client = Client()
        started = asyncio.Event()

        async def lines() -> AsyncIterator[bytes]:
            yield b"first\n"
            started.set()
            await asyncio.sleep(60)
            yield b"never\n"

        streaming = asyncio.ensure_future(NDJSONResponse(lines())({}, client.receive, client.send))
        await started.wait()
        streaming.cancel()
        with pytest.raises(asyncio.CancelledError):
            await streaming

    asyncio.run(asyncio.wait_for(main(), 10))
