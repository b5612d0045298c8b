"""Pauses kept in memory first: a paused sandbox's processes are frozen where they are (the
cgroup freezer: milliseconds, nothing inside can tell) and written to disk by CRIU in the
background, ``pause_resident_seconds`` later or at once when the host runs low on memory. A
resume before then thaws them (milliseconds); after, it restores the checkpoint.

Nothing is lost if the front end stops at any point: a frozen tree outlives it (its record,
paused, keeps its PIDs), CRIU leaves the tree frozen, not dead, when its images are written and
the tree is killed only once they are in place; the next start finds each of these states
(``reattach.reattach``) and goes on from it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from interpreter.core.config import Settings
from interpreter.core.store import Store
from interpreter.execution.kernels import SandboxKernels
from interpreter.runtime.base import Runtime, SandboxProcess
from interpreter.service.contexts import Contexts
from interpreter.service.live import LiveSandbox, LiveSandboxes, process_of

log = logging.getLogger(__name__)

LOW_MEMORY = 0.1  # MemAvailable below this share of MemTotal: frozen sandboxes go to disk now
CHECK_SECONDS = 1.0  # how often a waiting write-out looks at the host's memory
CRIU_GONE_SECONDS = 120.0  # how long a start waits for a CRIU dump the last front end began


class ResidentPauses:
    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        store: Store,
        live: LiveSandboxes,
        contexts: Contexts,
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.live = live
        self.contexts = contexts
        self.seconds = settings.pause_resident_seconds  # 0: pauses are written out at once
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._writing: dict[str, asyncio.Task[None]] = {}
        self._reconnecting: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def resident(self, process: SandboxProcess | None) -> bool:
        """Whether a paused sandbox's processes are there, frozen (a thaw resumes it)."""
        return process is not None and self.runtime.poll(process) and self.runtime.frozen(process)

    async def freeze(self, process: SandboxProcess) -> bool:
        """Freeze a running sandbox whose host connections are closed; False: it runs on."""
        if not self.enabled:
            return False
        return await asyncio.to_thread(self.runtime.freeze, process)

    def write_out_later(self, sandbox_id: str, delay: float | None = None) -> None:
        """Checkpoint the frozen sandbox to disk after ``delay`` (default: the setting)."""
        self.cancel(sandbox_id)
        wait = self.seconds if delay is None else delay
        task = asyncio.create_task(self._write_out_after(sandbox_id, wait))
        self._waiting[sandbox_id] = task
        task.add_done_callback(lambda t: self._forget(sandbox_id, t))

    def cancel(self, sandbox_id: str) -> None:
        """No write-out for it (it is resumed or killed); one already writing goes on."""
        waiting = self._waiting.pop(sandbox_id, None)
        if waiting is not None:
            waiting.cancel()

    async def thaw(self, sandbox_id: str, process: SandboxProcess) -> LiveSandbox:
        """Resume a frozen sandbox in place (the caller holds its lock): its network, never
        detached, is as it was; its kernels are the same processes."""
        self.cancel(sandbox_id)
        await asyncio.to_thread(self.runtime.thaw, process)
        kernels = self.contexts.kernels_of(sandbox_id, process, prepared=True)
        live = LiveSandbox.connect(process, kernels)
        self.live.add(sandbox_id, live)
        # The kernels' websockets, closed for the pause, open again while the caller goes on
        # (a run waits for its context's: ~30 ms less for the first run after the resume).
        reconnect = asyncio.create_task(_reconnect(kernels))
        self._reconnecting.add(reconnect)
        reconnect.add_done_callback(self._reconnecting.discard)
        return live

    async def stop(self) -> None:
        """Waiting write-outs are dropped (the next start schedules them again); ones writing
        are waited for, so that their record is updated."""
        for task in list(self._waiting.values()):
            task.cancel()
        for task in list(self._waiting.values()) + list(self._writing.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _forget(self, sandbox_id: str, task: asyncio.Task[None]) -> None:
        if self._waiting.get(sandbox_id) is task:
            del self._waiting[sandbox_id]

    async def _write_out_after(self, sandbox_id: str, delay: float) -> None:
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not _memory_low():
            await asyncio.sleep(min(CHECK_SECONDS, max(0.0, deadline - time.monotonic())))
        # From here on it is not cancelled: a write-out cut short would leave a stale record.
        writing = asyncio.ensure_future(self._write_out(sandbox_id))
        self._writing[sandbox_id] = writing
        writing.add_done_callback(lambda _: self._writing.pop(sandbox_id, None))
        self._waiting.pop(sandbox_id, None)
        await asyncio.shield(writing)

    async def _write_out(self, sandbox_id: str) -> None:
        async with self.live.lock(sandbox_id):
            record = self.store.get_sandbox(sandbox_id)
            if record is None or record.state != "paused":
                return  # resumed or killed meanwhile
            process = process_of(record)
            if process is None or not self.resident(process):
                return
            try:
                await asyncio.to_thread(self.runtime.pause, process, True)
            except Exception as exc:
                # It stays paused in memory (frozen): a resume still thaws it.
                log.warning("sandbox %s stays paused in memory: %s", sandbox_id, exc)
                return
            record.pid = record.jail_pid = None
            self.store.put_sandbox(record)
            log.info("paused sandbox %s written to disk", sandbox_id)


async def await_criu(process: SandboxProcess) -> None:
    """Wait for a CRIU dump of the tree that is still going on, begun by a front end that
    stopped during it: a write-out leaves the tree frozen again when it is done, a template
    snapshot's ends it. A tree killed under CRIU leaves CRIU waiting on it for good."""
    deadline = time.monotonic() + CRIU_GONE_SECONDS
    while time.monotonic() < deadline and _traced(process.jail_pid):
        await asyncio.sleep(0.05)


async def _reconnect(kernels: SandboxKernels) -> None:
    for context in list(kernels.contexts.values()):
        if context.kernel_id is not None:
            with contextlib.suppress(Exception):  # the run that needs it will say what failed
                await kernels.start(context)


def _traced(pid: int) -> bool:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return line.split()[1] != "0"
    except (OSError, IndexError):
        pass
    return False


def _memory_low() -> bool:
    fields: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0])
    except (OSError, ValueError):
        return False
    total, available = fields.get("MemTotal", 0), fields.get("MemAvailable", 0)
    return total > 0 and available < LOW_MEMORY * total
