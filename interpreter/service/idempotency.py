"""Creates named by an ``Idempotency-Key``: a repeat gets the sandbox the first request made.

Clients retry a create whose answer was lost (E2B's SDKs send the header on every create); the
retry must not make a second sandbox. A create in progress is shared with its repeats; a finished
one is remembered in the store, so a repeat after a restart of the front end still finds it, for
an hour or until the sandbox is killed. A failed create forgets its key: a retry tries again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

from interpreter.core.errors import InvalidRequestError
from interpreter.core.models import SandboxRecord, now
from interpreter.core.store import Store

KEY = re.compile(r"[A-Za-z0-9_.:-]{1,255}")
KEPT = timedelta(hours=1)


def checked_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise InvalidRequestError(
            "Idempotency-Key: 1-255 letters, digits or the characters '_.:-', got " + repr(key)
        )
    return key


class IdempotentCreates:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._running: dict[str, asyncio.Future[SandboxRecord]] = {}

    async def create(
        self, key: str, start: Callable[[], Awaitable[SandboxRecord]]
    ) -> SandboxRecord:
        checked_key(key)
        if key not in self._running:
            made = self.store.sandbox_of_idempotency_key(key, since=now() - KEPT)
            record = self.store.get_sandbox(made) if made else None
            if record is not None and record.state in ("running", "paused"):
                return record
            task = asyncio.ensure_future(self._create(key, start))
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        # Shielded: a client that goes away does not cancel a create a retry may claim.
        return await asyncio.shield(self._running[key])

    async def _create(
        self, key: str, start: Callable[[], Awaitable[SandboxRecord]]
    ) -> SandboxRecord:
        record = await start()
        self.store.put_idempotency_key(key, record.id, now())
        return record
