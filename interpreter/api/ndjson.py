"""NDJSON streams (runs, commands, watches, build logs) as ASGI responses that write less often.

Each write to the client's socket wakes the client up, and on a small machine every wake-up is a
scheduling round trip: Starlette's ``StreamingResponse`` makes five writes of ``run_code('1+1')``
(the head, three lines, the end of the body) and watches the client in an anyio task group.
This one sends the head with the first line (waiting for it at most ``HEAD_WAIT``), and the last
line with the end of the body, so ``1+1`` is three writes, and watches for a disconnect with one
plain asyncio task. As with ``StreamingResponse``, a client gone cancels the stream (its
generators' clean-up runs); what the stream raises before the head went out reaches the app's
error handlers (an error answer of its surface), not a cut 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

HEAD_WAIT = 0.2  # seconds: a stream with no first line by then sends its head alone
MEDIA_TYPE = "application/x-ndjson"


class NDJSONResponse(Response):
    media_type = MEDIA_TYPE

    def __init__(
        self, lines: AsyncIterator[bytes], last: bytes = b"", status_code: int = 200
    ) -> None:
        """``lines``, each a JSON document and its newline, then ``last`` (the closing line,
        when it is known beforehand: it goes out with the end of the body). (``status_code``:
        FastAPI's OpenAPI document reads the default from the signature.)"""
        super().__init__(status_code=status_code, media_type=MEDIA_TYPE)
        self.lines, self.last = lines, last
        self.started = False  # the head went out
        del self.headers["content-length"]  # the body is chunked

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(self._stream(send))
        watching = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (streaming, watching):
                task.cancel()  # the client is gone, or the stream is done (then a no-op)
            failure, _ = await asyncio.gather(streaming, watching, return_exceptions=True)
        if isinstance(failure, Exception):
            raise failure  # before the head: an error answer; after it, the connection drops

    async def _stream(self, send: Send) -> None:
        lines = aiter(self.lines)
        first = asyncio.ensure_future(anext(lines, b""))
        try:
            await asyncio.wait({first}, timeout=HEAD_WAIT)
            line = first.result() if first.done() else None  # (what it raised: before the head)
            await self.start(send)
            if line is None:
                line = await first
        finally:
            if not first.done():  # we are cancelled: the generator's clean-up runs first
                first.cancel()
                await asyncio.wait({first})
        while line:
            await send({"type": "http.response.body", "body": line, "more_body": True})
            line = await anext(lines, b"")
        await send({"type": "http.response.body", "body": self.last, "more_body": False})

    async def start(self, send: Send) -> None:
        self.started = True
        head = {"type": "http.response.start", "status": self.status_code}
        await send({**head, "headers": self.raw_headers})


async def _disconnect(receive: Receive) -> None:
    # The request's body was read (FastAPI parsed it): what ``receive`` gives now is the end.
    while (await receive())["type"] != "http.disconnect":
        pass
