"""One cell's exchange with its kernel (interpreter/execution/cells.py) on a clock that moves at
every reading, as uvloop's does (it reads the time at each ``loop.time()``): the end of a
kernel's settle window is never taken for the run's deadline."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from interpreter.core.errors import ExecutionTimeoutError
from interpreter.core.events import Event
from interpreter.execution import cells, messages

STEP = 1 / 256  # seconds a reading of the clock moves it on (exact in binary: no rounding)


class SteppingLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.readings = 0

    def time(self) -> float:
        self.readings += 1
        return self.readings * STEP


class Channel:
    """A kernel that has already answered: its reply and its idle are queued."""

    async def send(self, request: dict[str, Any]) -> None:
        pass


def answers(msg_id: str) -> list[dict[str, Any]]:
    parent = {"msg_id": msg_id}
    return [
        {"header": {"msg_type": "status"}, "parent_header": parent,
         "content": {"execution_state": "busy"}},
        {"header": {"msg_type": "execute_reply"}, "parent_header": parent,
         "content": {"status": "ok", "execution_count": 1}},
        {"header": {"msg_type": "status"}, "parent_header": parent,
         "content": {"execution_state": "idle"}},
    ]  # fmt: skip


async def run(settle: float) -> list[Event]:
    request = messages.execute_request("1+1")
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for msg in answers(request["header"]["msg_id"]):
        queue.put_nowait(msg)
    channel: Any = Channel()
    return [e async for e in cells.execute(None, channel, request, queue, 300, settle)]


def test_the_end_of_a_settle_window_is_not_the_deadline() -> None:
    # A settle window of two readings ends exactly at the third: read once a turn, the run ends
    # there; read twice a turn, the second reading found it past and raised the timeout.
    loop = SteppingLoop()
    try:
        assert loop.run_until_complete(run(settle=2 * STEP)) == []
    finally:
        loop.close()


def test_a_run_still_times_out_at_its_deadline() -> None:
    async def silent() -> None:
        request = messages.execute_request("import time; time.sleep(60)")
        channel: Any = Channel()
        queue: asyncio.Queue[Any] = asyncio.Queue()  # the kernel never answers
        async for _ in cells.execute(None, channel, request, queue, 0.05):
            pass

    with pytest.raises(ExecutionTimeoutError, match="timed out after 0.05 s"):
        asyncio.run(silent())
