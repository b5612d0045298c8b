"""Pausing a running sandbox and resuming a paused one: the manager's ``pause`` and ``resume``.

A pause with memory freezes the sandbox in place and leaves its write-out to disk to
``ResidentPauses`` (or, with ``pause_resident_seconds`` 0 or no freezer, checkpoints it now);
without memory its processes end and only its files stay. A resume thaws a frozen sandbox,
restores its checkpoint, or boots it fresh on its files (``bring_up``). Each holds the
sandbox's lock; concurrent resumes of one sandbox join the first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from interpreter.core import lifecycle
from interpreter.core.errors import CheckpointError, ConflictError, InterpreterError
from interpreter.core.models import SandboxRecord, now
from interpreter.core.options import lifetime
from interpreter.service.bring_up import BringUp, CheckpointRestore, FilesOnlyBoot
from interpreter.service.lifecycle import LifecycleEvents
from interpreter.service.live import LiveSandbox, process_of
from interpreter.service.resident import ResidentPauses
from interpreter.service.templates import Templates

log = logging.getLogger(__name__)


class Pauses:
    """The sandboxes' pauses and resumes (see the manager's ``pause`` and ``resume``)."""

    def __init__(
        self,
        bring_up: BringUp,
        resident: ResidentPauses,
        templates: Templates,
        lifecycle_events: LifecycleEvents,
        get: Callable[[str], SandboxRecord],
    ) -> None:
        self.bring_up, self.resident, self.templates = bring_up, resident, templates
        self.lifecycle, self.get = lifecycle_events, get
        # The parts a bring-up works with, as it has them.
        self.settings, self.runtime = bring_up.settings, bring_up.runtime
        self.store, self.live, self.contexts = bring_up.store, bring_up.live, bring_up.contexts
        self._resuming: dict[str, asyncio.Task[SandboxRecord]] = {}

    async def pause(
        self, sandbox_id: str, memory: bool = True, reason: str = "request"
    ) -> SandboxRecord:
        """See ``SandboxManager.pause``."""
        async with self.live.lock(sandbox_id):
            record = self.get(sandbox_id)
            if record.state == "paused":
                raise ConflictError(f"sandbox {sandbox_id!r} is already paused")
            live = self.live.pop(sandbox_id)
            if record.state != "running" or live is None:
                raise ConflictError(f"sandbox {sandbox_id!r} is {record.state}: cannot pause it")
            # Connections from the host are not part of the tree CRIU dumps: close them first.
            await live.close("paused")
            if memory and await self.resident.freeze(live.process):
                self.resident.write_out_later(sandbox_id)
                return self._paused(record, memory, reason, keep_pids=True)
            try:
                await asyncio.to_thread(self.runtime.pause, live.process, memory)
            except BaseException as exc:
                if self.runtime.poll(live.process):  # CRIU resumed it: reconnect
                    kernels = self.contexts.kernels_of(sandbox_id, live.process)
                    self.live.add(sandbox_id, LiveSandbox.connect(live.process, kernels))
                if isinstance(exc, InterpreterError):
                    raise
                if isinstance(exc, Exception):
                    raise CheckpointError(f"could not pause sandbox {sandbox_id!r}: {exc}") from exc
                raise
            return self._paused(record, memory, reason, keep_pids=False)

    def _paused(
        self, record: SandboxRecord, memory: bool, reason: str, keep_pids: bool
    ) -> SandboxRecord:
        record.state = "paused"
        if not keep_pids:  # its processes are gone (kept: frozen, in memory)
            record.pid = record.jail_pid = None
        # A paused sandbox's clock stops; it is deleted if not resumed within max_timeout.
        record.expires_at = now() + timedelta(seconds=self.settings.max_timeout)
        self.store.put_sandbox(record)
        log.info("sandbox %s paused (memory=%s, frozen=%s)", record.id, memory, keep_pids)
        self.lifecycle.record(record, lifecycle.PAUSED, memory=memory, reason=reason)
        return record

    async def resume(
        self, sandbox_id: str, timeout: int | None = None, memory: bool = True
    ) -> SandboxRecord:
        """See ``SandboxManager.resume``."""
        self.get(sandbox_id)
        task = self._resuming.get(sandbox_id)
        if task is None:
            task = asyncio.create_task(self._resume(sandbox_id, timeout, memory))
            self._resuming[sandbox_id] = task
            task.add_done_callback(lambda _: self._resuming.pop(sandbox_id, None))
        return await asyncio.shield(task)

    async def _resume(self, sandbox_id: str, timeout: int | None, memory: bool) -> SandboxRecord:
        async with self.live.lock(sandbox_id):
            record = self.get(sandbox_id)
            if record.state != "paused":
                return record
            seconds = lifetime(self.settings, timeout)
            frozen = process_of(record)
            if frozen is not None and self.resident.resident(frozen):
                if memory:
                    await self.resident.thaw(sandbox_id, frozen)
                    return self._resumed(record, seconds, "memory, in place", restore=True)
                self.resident.cancel(sandbox_id)  # its memory is not wanted: a fresh boot
                await asyncio.to_thread(self.runtime.pause, frozen, False)
                record.pid = record.jail_pid = None
            restore = memory and await asyncio.to_thread(self.runtime.has_checkpoint, sandbox_id)
            if restore:
                launcher: CheckpointRestore | FilesOnlyBoot = CheckpointRestore()
            else:
                template = await self.templates.resolve(record.template)
                launcher = FilesOnlyBoot(template.image, template.start)
            await self.bring_up.run(record, launcher)
            return self._resumed(record, seconds, "memory" if restore else "fresh", restore)

    def _resumed(
        self, record: SandboxRecord, seconds: int, how: str, restore: bool
    ) -> SandboxRecord:
        record.state = "running"
        record.expires_at = now() + timedelta(seconds=seconds)
        self.store.put_sandbox(record)
        log.info("sandbox %s resumed (%s)", record.id, how)
        self.lifecycle.record(record, lifecycle.RESUMED, memory=restore)
        return record
