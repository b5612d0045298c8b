"""A front end's start: each sandbox its store records as starting, running or paused is taken
up again as it is found (the sandboxes outlive the front end; nothing is lost in a restart).

Running and alive: connected to again (thawed first if a pause was cut short before it was
recorded). Paused: left paused, its write-out to disk resumed if it is still frozen in memory,
or running again if a resume was cut short after its processes were back. Anything else did not
survive (its processes died while the front end was away, a create was cut short): its
processes, mounts and folder are removed and it is recorded as killed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from interpreter.core import lifecycle
from interpreter.core.models import SandboxRecord, now
from interpreter.runtime.base import SandboxProcess
from interpreter.service.bring_up import BringUp
from interpreter.service.lifecycle import LifecycleEvents
from interpreter.service.live import LiveSandbox, process_of
from interpreter.service.notebook import Notebooks
from interpreter.service.resident import ResidentPauses, await_criu

log = logging.getLogger(__name__)


async def reattach(
    record: SandboxRecord,
    bring_up: BringUp,
    resident: ResidentPauses,
    events: LifecycleEvents,
    notebooks: Notebooks,
) -> None:
    runtime = bring_up.runtime
    process = process_of(record)
    alive = process is not None and runtime.poll(process)
    if process is not None and alive:
        await await_criu(process)  # a write-out to disk the last one began
    if record.state == "paused":
        if process is not None and resident.resident(process):
            resident.write_out_later(record.id)  # paused in memory: still is
        elif process is not None:  # a resume cut short after its processes were back
            await _adopt_resumed(record, process, alive, bring_up)
        events.record(record, lifecycle.REATTACHED, state=record.state)
        return
    if record.state == "running" and process is not None and alive:
        if runtime.frozen(process):  # a pause cut short before it was recorded
            await asyncio.to_thread(runtime.thaw, process)
        kernels = bring_up.contexts.kernels_of(record.id, process)
        bring_up.live.add(record.id, LiveSandbox.connect(process, kernels))
        log.info("re-attached sandbox %s", record.id)
        events.record(record, lifecycle.REATTACHED, state=record.state)
        return
    log.warning("sandbox %s did not survive; cleaning up", record.id)
    await bring_up.tear_down(record)
    notebooks.forget(record.id)
    if record.state != "starting":  # a create cut short was never announced
        events.record(record, lifecycle.KILLED, reason="lost")


async def _adopt_resumed(
    record: SandboxRecord, process: SandboxProcess, alive: bool, bring_up: BringUp
) -> None:
    """A paused sandbox with recorded PIDs: the front end stopped while resuming it, after
    its processes were back. Running, they are the sandbox now (a restored checkpoint is
    used up): it is running again; gone, it stays paused on its files."""
    runtime, store = bring_up.runtime, bring_up.store
    if alive:
        record.state = "running"
        record.expires_at = now() + timedelta(seconds=bring_up.settings.default_timeout)
        store.put_sandbox(record)
        kernels = bring_up.contexts.kernels_of(record.id, process)
        bring_up.live.add(record.id, LiveSandbox.connect(process, kernels))
        log.info("sandbox %s was being resumed: re-attached as running", record.id)
        return
    await asyncio.to_thread(runtime.kill, process)
    # Its checkpoint, if there, is whole (written before its frozen tree was killed, or not
    # used up by a restore that did not last): kept. Else its files are unmounted.
    if not await asyncio.to_thread(runtime.has_checkpoint, record.id):
        await asyncio.to_thread(runtime.discard_checkpoint, record.id)
    record.pid = record.jail_pid = None
    store.put_sandbox(record)
