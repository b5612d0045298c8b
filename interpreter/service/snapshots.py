"""Snapshots of running sandboxes, and forks.

A snapshot with ``memory`` is a CRIU checkpoint of the running sandbox taken with the tree left
running (its files copied while CRIU holds it frozen: ``runtime.snapshot_sandbox``); a
sandbox created from it (``template=<snapshot id>``) is restored with every context's kernel,
its variables and its processes as they were, sharing nothing writable with the source or
with other sandboxes of the snapshot, with fresh random seeds (as a template snapshot's). One
without ``memory`` keeps the files: its upper layer becomes a layer on the source's image, and
sandboxes of it boot fresh on that. The source runs on; the host's connections to it are closed
for the checkpoint and made again (a run in flight at that moment loses its stream). A fork is
a snapshot restored ``count`` times, then removed.

A snapshot with sandboxes (created from it, running or paused) is not deleted (409).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import secrets
from datetime import timedelta
from pathlib import Path

from interpreter.core.config import Settings
from interpreter.core.errors import (
    ConflictError,
    InterpreterError,
    InvalidRequestError,
    SnapshotNotFoundError,
    TemplateInUseError,
)
from interpreter.core.models import SandboxRecord, SnapshotRecord, now
from interpreter.core.options import CreateRequest, SandboxOptions
from interpreter.runtime.base import Image
from interpreter.service.bring_up import BringUp, SandboxSnapshotRestore
from interpreter.service.contexts import Contexts
from interpreter.service.live import LiveSandbox

log = logging.getLogger(__name__)
MAX_FORKS = 100


class Snapshots:
    def __init__(self, bring_up: BringUp, contexts: Contexts) -> None:
        self.bring_up, self.contexts = bring_up, contexts
        self.runtime, self.store, self.live = bring_up.runtime, bring_up.store, bring_up.live

    def get(self, ref: str) -> SnapshotRecord:
        snapshot = self.store.get_snapshot(ref)
        if snapshot is None:
            raise SnapshotNotFoundError(f"snapshot {ref!r} not found")
        return snapshot

    def find(self, ref: str) -> SnapshotRecord | None:
        return self.store.get_snapshot(ref)

    def list(self, sandbox_id: str | None = None) -> list[SnapshotRecord]:
        return [s for s in self.store.list_snapshots() if sandbox_id in (None, s.sandbox_id)]

    async def take(
        self, record: SandboxRecord, image: Image, name: str | None, memory: bool
    ) -> SnapshotRecord:
        """Snapshot a running sandbox (the caller holds its lock)."""
        if record.state != "running":
            raise ConflictError(f"sandbox {record.id!r} is {record.state}: only a running one")
        if record.volume_mounts:  # a clone's tree would hold mounts its restore cannot give
            raise ConflictError(
                f"sandbox {record.id!r} has volumes mounted: its snapshots and forks are not "
                "supported"
            )
        if name is not None and self.store.get_snapshot(name) is not None:
            raise ConflictError(f"a snapshot named {name!r} exists already")
        snapshot = SnapshotRecord(
            id=f"snap-{secrets.token_hex(8)}", name=name, sandbox_id=record.id,
            template=record.template, memory=memory, cpu=record.cpu,
            memory_mb=record.memory_mb, disk_mb=record.disk_mb, envs=record.envs,
            network=record.network, workdir=record.workdir,
        )  # fmt: skip
        live = self.live.running(record.id)
        if memory:
            snapshot.contexts = [c for c in self.contexts.list(record.id)]
            snapshot.frozen_seconds = await self._checkpoint(record.id, live, snapshot.id)
            info = await asyncio.to_thread(self.runtime.sandbox_snapshot_info, snapshot.id)
            snapshot.layers = [str(p) for p in (info or {}).get("layers", [])]  # type: ignore[attr-defined]
        else:
            key = f"files-{snapshot.id}"
            await asyncio.to_thread(self.runtime.capture_layer, live.process, key)
            files = self.runtime.built_image(image, snapshot.id, [key])
            snapshot.layers = [str(p) for p in files.layers]
        self.store.put_snapshot(snapshot)
        log.info("snapshot %s of sandbox %s taken (memory=%s)", snapshot.id, record.id, memory)
        return snapshot

    async def _checkpoint(self, sandbox_id: str, live: LiveSandbox, snapshot_id: str) -> float:
        self.live.pop(sandbox_id)
        await live.close("snapshotted")  # a checkpoint holds no connection from the host
        try:
            info: dict[str, object] = {"sandbox_id": sandbox_id}
            return await asyncio.to_thread(
                self.runtime.snapshot_sandbox, live.process, snapshot_id, info
            )
        finally:  # it runs on (CRIU resumed it, dump or not): connect again
            kernels = self.contexts.kernels_of(sandbox_id, live.process, prepared=True)
            self.live.add(sandbox_id, LiveSandbox.connect(live.process, kernels))

    def image(self, snapshot: SnapshotRecord) -> Image:
        return Image(snapshot.id, tuple(Path(p) for p in snapshot.layers))

    async def restore(
        self, snapshot: SnapshotRecord, request: CreateRequest, template: str | None = None
    ) -> SandboxRecord:
        """A new running sandbox from a snapshot with memory; its template is the snapshot
        (a fork's: the source's template, its snapshot removed after)."""
        record = request.new_record("starting")
        record.template = template or snapshot.id
        record.envs = {**snapshot.envs, **request.envs}
        record.network, record.workdir = snapshot.network, snapshot.workdir
        await self.bring_up.run(record, SandboxSnapshotRestore(snapshot))
        record.state = "running"
        record.created_at = now()
        record.expires_at = record.created_at + timedelta(seconds=request.seconds)
        self.store.put_sandbox(record)
        return record

    async def fork(
        self,
        settings: Settings,
        source: SandboxRecord,
        snapshot: SnapshotRecord,
        count: int,
        timeout: int | None,
    ) -> builtins.list[SandboxRecord | InterpreterError]:
        """Restore the fork's snapshot ``count`` times, then remove it."""
        options = SandboxOptions(
            template=source.template, timeout=timeout, metadata=source.metadata,
            cpu=source.cpu, memory_mb=source.memory_mb, disk_mb=source.disk_mb,
        )  # fmt: skip
        # Two restores at a time: each is CPU-bound (CRIU's page copying) and a host has few
        # cores; more at once only queue.
        gate = asyncio.Semaphore(2)

        async def one() -> SandboxRecord | InterpreterError:
            async with gate:
                request = CreateRequest.of(settings, options)
                try:
                    return await self.restore(snapshot, request, template=source.template)
                except InterpreterError as exc:
                    return exc

        try:
            return list(await asyncio.gather(*(one() for _ in range(count))))
        finally:
            await self.delete(snapshot.id)

    def check_deletable(self, snapshot: SnapshotRecord) -> None:
        users = [s.id for s in self.store.list_sandboxes() if s.template == snapshot.id]
        if users:
            raise TemplateInUseError(
                f"snapshot {snapshot.id!r} has sandboxes ({', '.join(users[:10])}): kill them first"
            )

    async def delete(self, ref: str) -> None:
        snapshot = self.get(ref)
        self.check_deletable(snapshot)
        self.store.delete_snapshot(snapshot.id)
        if snapshot.memory:
            await asyncio.to_thread(self.runtime.delete_sandbox_snapshot, snapshot.id)
        else:
            keep = {key for b in self.store.list_builds() for key in b.layers}
            await asyncio.to_thread(self.runtime.remove_layers, keep | self._files_layers())

    def _files_layers(self) -> set[str]:
        return {f"files-{s.id}" for s in self.store.list_snapshots() if not s.memory}


def checked_count(count: int) -> int:
    if not 1 <= count <= MAX_FORKS:
        raise InvalidRequestError(f"count must be 1 to {MAX_FORKS}, got {count}")
    return count
