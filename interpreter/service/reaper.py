"""The reaper: sandboxes past their lifetime are paused (if they asked to be) or killed; now and
then, the lifecycle events of sandboxes long gone are pruned."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from interpreter.core.models import SandboxRecord, now
from interpreter.core.store import Store

log = logging.getLogger(__name__)

PRUNE_SECONDS = 60.0  # between two prunes of old events (a scan of the events table)


async def reap_forever(
    store: Store,
    interval: float,
    pause: Callable[[str, bool], Awaitable[SandboxRecord]],
    kill: Callable[[str], Awaitable[None]],
    prune: Callable[[], None] = lambda: None,
) -> None:
    pruned_at = 0.0
    while True:
        await asyncio.sleep(interval)
        if time.monotonic() - pruned_at >= PRUNE_SECONDS:
            pruned_at = time.monotonic()
            try:
                prune()
            except Exception:
                log.exception("reaper could not prune old lifecycle events")
        for sandbox_id in store.expired(now()):
            record = store.get_sandbox(sandbox_id)
            if record and record.state == "running" and record.on_timeout != "kill":
                memory = record.on_timeout == "pause"
                log.info("sandbox %s timed out: pausing it (memory=%s)", sandbox_id, memory)
                try:
                    await pause(sandbox_id, memory)
                    continue
                except Exception:
                    log.exception("reaper could not pause %s: killing it", sandbox_id)
            log.info("sandbox %s timed out: killing it", sandbox_id)
            try:
                await kill(sandbox_id)
            except Exception:
                log.exception("reaper could not kill %s", sandbox_id)
