"""What a run's failure means for its sandbox: a run whose sandbox was killed (or paused) under it
ends with ``SandboxGoneError``, not with whatever the broken connection to its kernel raised.

Only the manager can tell, by its table of running sandboxes: a kill or a pause takes the
sandbox out of it before it stops the processes, so a run that fails while its sandbox is no
longer the one it started in lost it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from interpreter.core.errors import InterpreterError, SandboxGoneError, SandboxNotFoundError
from interpreter.core.models import SandboxRecord

SETTLE_SECONDS = 15.0


class Running(Protocol):
    def get(self, sandbox_id: str) -> object | None: ...


class Sandboxes(Protocol):
    """The part of the manager this module reads."""

    @property
    def live(self) -> Running: ...

    def get(self, sandbox_id: str) -> SandboxRecord: ...


E = TypeVar("E")


async def watched(
    sandboxes: Sandboxes, sandbox_id: str, live: object, events: AsyncIterator[E]
) -> AsyncIterator[E]:
    """``events``, with a failure after the sandbox stopped being ``live`` raised as
    ``SandboxGoneError`` once the kill (or pause) is over: whoever asks about the sandbox then
    hears that it is gone (or paused)."""
    try:
        async for event in events:
            yield event
    except InterpreterError as exc:
        if sandboxes.live.get(sandbox_id) is live:
            raise
        how = await settled(sandboxes, sandbox_id)
        raise SandboxGoneError(f"sandbox {sandbox_id!r} was {how} while running code") from exc
    finally:
        aclose: Callable[[], Awaitable[None]] | None = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def settled(sandboxes: Sandboxes, sandbox_id: str, timeout: float = SETTLE_SECONDS) -> str:
    """Wait until the sandbox is paused or its record is gone; say which ("paused", "killed")."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            if sandboxes.get(sandbox_id).state == "paused":
                return "paused"
        except SandboxNotFoundError:
            return "killed"
        await asyncio.sleep(0.05)
    return "stopped"
