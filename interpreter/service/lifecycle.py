"""Lifecycle events: every transition of a sandbox recorded (with its webhook deliveries queued
in the same transaction), read back a page at a time, pruned a while after the sandbox is gone.

Recording is one SQLite transaction on the caller's path (well under a millisecond); sending
to webhooks is the delivery loop's (``webhooks``), never the sandbox operation's.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from interpreter.core import lifecycle
from interpreter.core.errors import InvalidRequestError, SandboxNotFoundError
from interpreter.core.events import CellError, Event
from interpreter.core.lifecycle import LifecycleEvent
from interpreter.core.lifecycle_store import LifecycleStore
from interpreter.core.models import ContextRecord, SandboxRecord, now
from interpreter.service.webhooks import webhook_body

log = logging.getLogger(__name__)

DEFAULT_PAGE = 100
MAX_PAGE = 1000
DIRECTIONS = ("asc", "desc")
KERNEL_DIED_ERROR = "KernelDiedError"  # the error event's name when a run's kernel died


@dataclass
class EventPage:
    events: list[LifecycleEvent]
    next: int | None  # pass as ``after`` for the next page; None: this was the last


class LifecycleEvents:
    def __init__(self, store: LifecycleStore, wake: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.wake = wake  # the delivery loop's: an event may have deliveries due now

    def record(self, sandbox: SandboxRecord, event_type: str, **data: Any) -> None:
        """Record that ``event_type`` happened to ``sandbox`` now. Never fails the operation
        that reports it: a database error is logged."""
        event = LifecycleEvent(
            id=str(uuid.uuid4()),
            type=event_type,
            sandbox_id=sandbox.id,
            template=sandbox.template,
            data={"sandbox_metadata": dict(sandbox.metadata), **data},
        )
        try:
            self.store.add_event(event, webhook_body)
        except sqlite3.Error:
            log.exception("could not record %s of sandbox %s", event_type, sandbox.id)
            return
        log.debug("sandbox %s: %s %s", sandbox.id, event_type, data)
        self.wake()

    def page(
        self,
        sandbox_id: str,
        exists: bool,
        limit: int | str | None = None,
        direction: str | None = None,
        after: int | str | None = None,
    ) -> EventPage:
        """A page of the sandbox's events, oldest first (``direction="desc"``: newest first),
        after the event whose ``seq`` is ``after``. SandboxNotFoundError for a sandbox that
        neither ``exists`` nor has events (they are kept ``events_retention`` after it)."""
        count = _whole(limit, "limit", DEFAULT_PAGE)
        if not 1 <= count <= MAX_PAGE:
            raise InvalidRequestError(f"limit must be 1 to {MAX_PAGE}, not {count}")
        direction = direction or "asc"
        if direction not in DIRECTIONS:
            raise InvalidRequestError(f"direction must be asc or desc, not {direction!r}")
        cursor = None if after is None or after == "" else _whole(after, "after", 0)
        if cursor is not None and not 0 <= cursor <= 2**62:  # SQLite's integers are 64-bit
            raise InvalidRequestError(f"after must be an event's seq (0 or more), not {cursor}")
        events = self.store.events(sandbox_id, count, direction == "asc", cursor)
        if not events and not exists and not self.store.has_events(sandbox_id):
            raise SandboxNotFoundError(f"sandbox {sandbox_id!r} not found", sandbox_id)
        return EventPage(events, events[-1].seq if len(events) == count else None)

    def list(
        self,
        sandbox_id: str | None,
        limit: int,
        ascending: bool,
        offset: int = 0,
        types: list[str] | None = None,
    ) -> list[LifecycleEvent]:
        """Events by offset (E2B's paging), of one sandbox or all, of some types or all."""
        return self.store.events(sandbox_id, limit, ascending, offset=offset, types=types)

    def prune(self, retention: float) -> None:
        pruned = self.store.prune(now() - timedelta(seconds=retention))
        if pruned:
            log.info("pruned %d lifecycle events of sandboxes gone", pruned)


def _whole(raw: int | str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, int):
        return raw
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequestError(f"{name} must be a whole number, not {raw!r}") from None


async def noting_kernel_deaths(
    events: AsyncIterator[Event],
    record_of: Callable[[str], SandboxRecord | None],
    context: ContextRecord,
    lifecycle_events: LifecycleEvents,
) -> AsyncIterator[Event]:
    """A run's events as they are; a kernel that died under the run (it is restarted) is also
    recorded as the sandbox's ``kernel_died`` event (its record read then, by ``record_of``:
    not on the path of every run; none, the sandbox is gone: nothing to record it for)."""
    try:
        async for event in events:
            if isinstance(event, CellError) and event.name == KERNEL_DIED_ERROR:
                sandbox = record_of(context.sandbox_id)
                if sandbox is not None:
                    lifecycle_events.record(
                        sandbox,
                        lifecycle.KERNEL_DIED,
                        context_id=context.id,
                        language=context.language,
                    )
            yield event
    finally:
        aclose: Callable[[], Awaitable[None]] | None = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
