"""Fast start: a create is served from the warm pool, else restored from the template's snapshot.

Both hand out a sandbox made exactly what a cold create would have made (limits, variables,
metadata, lifetime); ``FastStart.create`` returning None means "start cold". The pool refills from
the snapshot once there is one (a restore costs a fraction of a cold boot's CPU), so the snapshot
is taken before the pool is filled.

FastStart is the manager's fast path split out for size, not a separate layer: it boots, attaches
and kills through the SandboxManager's own (underscored) steps, so a pooled or restored sandbox
goes through the same code as a cold one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from interpreter.core.errors import SandboxStartError
from interpreter.core.models import ContextRecord, SandboxRecord, now
from interpreter.execution import languages
from interpreter.execution.languages import DEFAULT_CWD
from interpreter.runtime import criu, images, snapshot
from interpreter.runtime.images import Image
from interpreter.service.pool import Pooled, WarmPool

if TYPE_CHECKING:
    from interpreter.service.manager import SandboxManager

log = logging.getLogger(__name__)


@dataclass
class CreateRequest:
    """What a create asks for, checked and with the defaults filled in."""

    template: str
    image: Image
    seconds: int
    cpu: float
    memory_mb: int
    metadata: dict[str, str] = field(default_factory=dict)
    envs: dict[str, str] = field(default_factory=dict)

    def new_record(self, state: Literal["starting", "pooled"]) -> SandboxRecord:
        created = now()
        return SandboxRecord(
            id=secrets.token_hex(10),
            template=self.template,
            state=state,
            created_at=created,
            expires_at=created + timedelta(seconds=self.seconds),
            cpu=self.cpu,
            memory_mb=self.memory_mb,
            metadata=self.metadata,
            envs=self.envs,
        )


class FastStart:
    def __init__(self, manager: SandboxManager) -> None:
        self.manager = manager
        self.settings = manager.settings
        self.pool: WarmPool | None = None

    async def start(self) -> None:
        """Keep ready sandboxes per template (the serving front end only, after start())."""
        await self.discard_pooled()  # left by a front end that did not stop cleanly
        templates = {self.settings.default_template, *self.settings.pool_sizes}
        snapshots = self.settings.snapshots
        if snapshots:
            try:
                await asyncio.to_thread(criu.version, self.settings.criu)
            except criu.CriuError as exc:
                log.warning("no template snapshots: %s", exc)
                snapshots = False
        self.pool = WarmPool(
            {t: self.settings.pool_size_of(t) for t in sorted(templates)},
            boot=self._boot_pooled,
            discard=lambda pooled: self.manager._kill(pooled.record),
            alive=self._pooled_alive,
            refill_delay=self.settings.pool_refill_delay,
            snapshot=self._take_snapshot if snapshots else None,
            snapshot_templates=sorted(templates),
        )
        self.pool.start()

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.stop()

    async def discard_pooled(self) -> list[str]:
        """Kill every pooled sandbox the store knows of (start, `sandbox kill --all`)."""
        records = self.manager.store.list_sandboxes(("pooled",))
        for record in records:
            await self.manager._kill(record)
        return [record.id for record in records]

    def status(self) -> list[dict[str, object]]:
        return self.pool.status() if self.pool is not None else []

    async def create(self, request: CreateRequest) -> SandboxRecord | None:
        """A running sandbox from the pool or the snapshot, or None (the caller goes cold)."""
        claimed = await self._claim(request)
        if claimed is not None:
            return claimed
        record = request.new_record("starting")
        if not await self._restore(record, request.image):
            return None
        record.state = "running"
        # The lifetime counts from when the sandbox is ready, not from the request.
        record.created_at = now()
        record.expires_at = record.created_at + timedelta(seconds=request.seconds)
        self.manager.store.put_sandbox(record)
        log.info("sandbox %s restored from the %s snapshot", record.id, request.template)
        return record

    # -- the warm pool ------------------------------------------------------------------------
    def _pooled_request(self, template: str, image: Image) -> CreateRequest:
        """A sandbox no client sees (pool, snapshot source): killed with the pool if left."""
        return CreateRequest(
            template,
            image,
            self.settings.default_timeout,
            self.settings.default_cpu,
            self.settings.default_memory_mb,
        )

    async def _boot_pooled(self, template: str) -> Pooled:
        image = await asyncio.to_thread(images.resolve, self.settings, template)
        record = self._pooled_request(template, image).new_record("pooled")
        if await self._restore(record, image):
            log.info("sandbox %s restored from the %s snapshot into the pool", record.id, template)
        else:
            await self.manager._boot(record, image)
        return Pooled(record, image)

    def _pooled_alive(self, pooled: Pooled) -> bool:
        live = self.manager.live.get(pooled.record.id)
        return live is not None and self.manager.runtime.poll(live.process)

    async def _claim(self, request: CreateRequest) -> SandboxRecord | None:
        """Hand out a pooled sandbox made exactly what a cold create would have made, or None."""
        assert self.pool is not None
        manager = self.manager
        while (pooled := self.pool.take(request.template, request.image)) is not None:
            record, live = pooled.record, manager.live[pooled.record.id]
            limits = (request.cpu, request.memory_mb)
            if limits != (record.cpu, record.memory_mb):
                try:
                    await asyncio.to_thread(manager.runtime.set_limits, live.process, *limits)
                except OSError as exc:  # e.g. less memory than the idle sandbox already uses
                    log.info("pooled sandbox cannot take those limits (%s): going cold", exc)
                    with contextlib.suppress(OSError):
                        manager.runtime.set_limits(live.process, record.cpu, record.memory_mb)
                    self.pool.put_back(pooled)
                    return None
            try:
                if request.envs:
                    # A cold sandbox has them from launch; here the agent and the gateway read
                    # them from the run folder and the running Python kernel is told directly.
                    manager.runtime.set_envs(live.process, request.envs)
                    await live.kernels.export_env(request.envs)
            except Exception:
                log.exception("pooled sandbox %s refused its variables: discarding it", record.id)
                self.pool.discard_later(pooled)
                continue
            except BaseException:
                self.pool.discard_later(pooled)
                raise
            record.state = "running"
            record.metadata, record.envs = request.metadata, request.envs
            record.cpu, record.memory_mb = limits
            record.created_at = now()
            record.expires_at = record.created_at + timedelta(seconds=request.seconds)
            manager.store.put_sandbox(record)
            log.info("sandbox %s handed out from the warm pool", record.id)
            return record
        return None

    # -- the template snapshot ----------------------------------------------------------------
    async def _take_snapshot(self, template: str) -> None:
        """Checkpoint a freshly booted sandbox of the template, once per build of it (kept on
        disk): restoring it skips the gateway's and the kernel's start-up."""
        manager = self.manager
        image = await asyncio.to_thread(images.resolve, self.settings, template)
        folder = snapshot.folder_for(self.settings, image)
        if snapshot.read_info(folder) is not None:
            return
        record = self._pooled_request(template, image).new_record("pooled")
        await manager._boot(record, image)
        live = manager.live.pop(record.id)
        (python,) = [c for c in live.kernels.contexts.values() if c.language.name == "python"]
        await live.close()  # a checkpoint holds no connection from outside the sandbox
        try:
            info = {"kernel_id": python.kernel_id, "cwd": python.cwd}
            await asyncio.to_thread(snapshot.take, self.settings, live.process, image, folder, info)
            await asyncio.to_thread(snapshot.discard_others, folder)
        finally:
            await manager._kill(record)
        log.info("snapshot of %s taken: %s", template, folder)

    async def _restore(self, record: SandboxRecord, image: Image) -> bool:
        """Restore ``record``'s sandbox from the template's snapshot, ready as a cold boot leaves
        it (agent answering, default contexts, the record's variables); False if there is no
        usable snapshot (nothing is left behind)."""
        assert self.pool is not None
        manager, template = self.manager, record.template
        if self.pool.snapshots.get(template) != "ready":
            return False
        folder = snapshot.folder_for(self.settings, image)
        info = snapshot.read_info(folder)
        if info is None:
            self.pool.snapshot_stale(template)  # the template was rebuilt: take a new one
            return False
        manager.store.put_sandbox(record)
        restoring = asyncio.ensure_future(
            asyncio.to_thread(
                snapshot.restore,
                self.settings,
                folder,
                record.id,
                self.settings.sandboxes_path / record.id,
                record.cpu,
                record.memory_mb,
            )
        )
        try:
            process = await asyncio.shield(restoring)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(manager._destroy, await restoring)
            manager.store.delete_sandbox(record.id)
            await asyncio.to_thread(manager._destroy_folder, record.id)
            if not isinstance(exc, Exception):
                raise
            log.exception("restore from the %s snapshot failed: starting cold", template)
            await asyncio.to_thread(shutil.rmtree, folder, True)
            self.pool.snapshot_broken(template)
            return False
        record.pid, record.jail_pid = process.pid, process.jail_pid
        record.folder = str(process.folder)
        manager.store.put_sandbox(record)
        live = manager._attach(record.id, process)
        manager.live[record.id] = live
        # The gateway and the agent were listening when checkpointed: no start-up to wait for.
        agent = asyncio.create_task(manager._agent_ready(live))
        try:
            python = live.kernels.add(
                languages.resolve("python"), info["cwd"], None, info["kernel_id"]
            )
            python.prepared = True  # its cwd was set before the checkpoint
            manager.store.put_context(
                ContextRecord(
                    id=python.id,
                    sandbox_id=record.id,
                    language="python",
                    cwd=python.cwd,
                    created_at=now(),
                    is_default=True,
                    kernel_id=python.kernel_id,
                )
            )
            await live.kernels.start(python)  # connects to the restored kernel
            if not await agent:
                raise SandboxStartError("the restored sandbox's agent does not answer")
            await manager._create_context(record.id, live.kernels, "javascript", DEFAULT_CWD, True)
            if record.envs:
                manager.runtime.set_envs(process, record.envs)
            # One silent cell: fresh random seeds (every restore starts from the same generator
            # state) and the request's variables.
            lang, envs = python.language, record.envs
            setup = [lang.reseed, lang.export_env(envs) if envs and lang.export_env else None]
            await live.kernels.run_silent(python.id, "\n".join(code for code in setup if code))
        except Exception:
            log.exception("sandbox restored from the %s snapshot failed: starting cold", template)
            await self._undo(record)
            self.pool.snapshot_broken(template)
            return False
        except BaseException:
            await self._undo(record)
            raise
        finally:
            agent.cancel()
        return True

    async def _undo(self, record: SandboxRecord) -> None:
        if record.state == "pooled":
            await self.manager._kill(record)  # invisible: nobody else can be killing it
        else:
            await self.manager.kill(record.id)
