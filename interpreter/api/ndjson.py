"""NDJSON streams (runs, commands, watches, build logs) as ASGI responses that write less often.

Each write to the client's socket wakes the client up, and on a small machine every wake-up is a
scheduling round trip: Starlette's ``StreamingResponse`` makes five writes of ``run_code('1+1')``
(the head, three lines, the end of the body) and watches the client in an anyio task group.
This one sends the head with the first line (waiting for it at most ``HEAD_WAIT``), and the last
line with the end of the body, so ``1+1`` is three writes, and streams in the request's own task,
watching for a disconnect with one plain asyncio task. As with ``StreamingResponse``, a client
gone cancels the stream (its generators' clean-up runs); what the stream raises before the head
went out reaches the app's error handlers (an error answer of its surface), not a cut 200.
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
        # The stream runs in the request's own task; a watcher cancels it if the client goes.
        # (Two more tasks and their waits, as before, were ~0.1 ms of every run: issue 19.)
        task = asyncio.current_task()
        assert task is not None
        over = gone = False

        def hang_up(watcher: asyncio.Future[None]) -> None:
            nonlocal gone
            if not over and not watcher.cancelled() and watcher.exception() is None:
                gone = True
                task.cancel()

        watching = asyncio.ensure_future(_disconnect(receive))
        watching.add_done_callback(hang_up)
        try:
            await self._stream(send)
        except asyncio.CancelledError:
            # Our own cancel: the client is gone, the stream's clean-up ran; it ends here, as
            # StreamingResponse's does.
            if not gone:
                raise
        finally:
            over = True  # a hang-up already on its way to the loop does nothing now
            watching.cancel()
            if gone:  # our cancel is spent, however the stream ended (its clean-up may raise)
                task.uncancel()
        if task.cancelling():
            raise asyncio.CancelledError  # someone else's (the server's) too: it goes on up

    async def _stream(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        lines = aiter(self.lines)
        alone: asyncio.Task[None] | None = None

        def head_alone() -> None:  # no first line by HEAD_WAIT: the client gets the head now
            nonlocal alone
            alone = loop.create_task(self.start(send))

        timer = loop.call_later(HEAD_WAIT, head_alone)
        try:
            line = await anext(lines, b"")  # what it raises before the head: an error answer
        finally:
            timer.cancel()
            if alone is not None:
                await alone
        if alone is None:
            await self.start(send)
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
