"""The sampler: every few seconds, each running sandbox's resource use joins its history."""

from __future__ import annotations

import asyncio
import logging

from interpreter.core.store import Store
from interpreter.runtime.base import Runtime
from interpreter.service.live import LiveSandboxes, process_of
from interpreter.service.metrics import MetricsHistory

log = logging.getLogger(__name__)


async def sample_forever(
    store: Store, runtime: Runtime, live: LiveSandboxes, history: MetricsHistory, interval: float
) -> None:
    while True:
        await asyncio.sleep(interval)
        for record in store.list_sandboxes(("running",)):
            running = live.get(record.id)
            process = running.process if running else process_of(record)
            if process is None:
                continue
            try:
                await asyncio.to_thread(history.sample, runtime, record, process)
            except Exception:  # a sandbox killed meanwhile; the next round goes on
                log.debug("no metrics sample of %s", record.id, exc_info=True)
