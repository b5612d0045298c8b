"""Fast start: a create is served from the warm pool, else restored from the template's snapshot.

Both hand out a sandbox made exactly what a cold create would have made (limits, variables,
metadata, lifetime); ``FastStart.create`` returning None means "start cold". The pool refills from
the snapshot once there is one (a restore costs a fraction of a cold boot's CPU), so the snapshot
is taken before the pool is filled. Every sandbox here comes up through the bring-up pipeline
(``ColdBoot`` or ``SnapshotRestore``), as a cold create's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from interpreter.core.errors import CheckpointError, InterpreterError, SandboxNotFoundError
from interpreter.core.models import SandboxRecord, now
from interpreter.core.options import CreateRequest
from interpreter.runtime.base import Image
from interpreter.service import template_start
from interpreter.service.bring_up import BringUp, ColdBoot, SnapshotRestore
from interpreter.service.live import process_of
from interpreter.service.pool import Pooled, WarmPool
from interpreter.service.resident import await_criu
from interpreter.service.templates import Resolved

log = logging.getLogger(__name__)


class FastStart:
    def __init__(
        self,
        bring_up: BringUp,
        resolve: Callable[[str], Awaitable[Resolved]],
        built: Callable[[], list[str]] = list,
    ) -> None:
        self.bring_up = bring_up
        self.resolve = resolve  # a template's name -> its image and how it starts
        self.built = built  # the templates built here (each has a snapshot)
        self.settings, self.runtime = bring_up.settings, bring_up.runtime
        self.store, self.live = bring_up.store, bring_up.live
        self.pool: WarmPool | None = None

    async def start(self) -> None:
        """Keep ready sandboxes per template (the serving front end only)."""
        await self.discard_pooled()  # left by a front end that did not stop cleanly
        # Every template gets its snapshot: the built-in ones (E2B's SDK creates `base` by
        # default), the pooled ones, those built here.
        templates = {
            self.settings.default_template,
            *self.settings.pool_sizes,
            *self.runtime.builtin_templates(),
            *self.built(),
        }
        snapshots = self.settings.snapshots
        if snapshots:
            unsupported = await asyncio.to_thread(self.runtime.checkpoint_support)
            if unsupported is not None:
                log.warning("no template snapshots: %s", unsupported)
                snapshots = False
        self.pool = WarmPool(
            {t: self.settings.pool_size_of(t) for t in sorted(templates)},
            boot=self._boot_pooled,
            discard=lambda pooled: self.bring_up.tear_down(pooled.record),
            alive=self._pooled_alive,
            refill_delay=self.settings.pool_refill_delay,
            snapshot=self._take_snapshot if snapshots else None,
            # The default template's first: creates wait for it most.
            snapshot_templates=sorted(
                templates, key=lambda t: (t != self.settings.default_template, t)
            ),
        )
        self.pool.start()

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.stop()

    async def discard_pooled(self) -> list[str]:
        """Kill every pooled sandbox the store knows of (start, `sandbox kill --all`)."""
        records = self.store.list_sandboxes(("pooled",))
        for record in records:
            process = process_of(record)
            if process is not None:  # a snapshot's dump a stopped front end began: let it end
                await await_criu(process)
            await self.bring_up.tear_down(record)
        return [record.id for record in records]

    @property
    def pool_snapshots(self) -> bool:
        """Whether templates get snapshots here (on, and CRIU works)."""
        return self.pool is not None and self.pool.snapshots_on

    def status(self) -> list[dict[str, object]]:
        return self.pool.status() if self.pool is not None else []

    async def create(self, request: CreateRequest, image: Image) -> SandboxRecord | None:
        """A running sandbox from the pool or the snapshot, or None (the caller goes cold)."""
        claimed = await self._claim(request, image)
        if claimed is not None:
            return claimed
        record = request.new_record("starting")
        if not await self._restore(record, image):
            return None
        _hand_out(record, request)
        self.store.put_sandbox(record)
        log.info("sandbox %s restored from the %s snapshot", record.id, request.template)
        return record

    async def forget(self, template: str) -> None:
        """A template is deleted: its pooled sandboxes and its snapshot go."""
        with contextlib.suppress(InterpreterError):
            resolved = await self.resolve(template)
            await asyncio.to_thread(self.runtime.discard_snapshot, resolved.image)
        if self.pool is not None:
            await self.pool.forget(template)

    # -- the warm pool ------------------------------------------------------------------------
    def _pooled_record(self, resolved: Resolved) -> SandboxRecord:
        """A sandbox no client sees (pool, snapshot source): killed with the pool if left."""
        record = CreateRequest.defaults(self.settings, resolved.name).new_record("pooled")
        record.envs = resolved.envs  # a built template's ENV
        return record

    async def _boot_pooled(self, template: str) -> Pooled:
        resolved = await self.resolve(template)
        record = self._pooled_record(resolved)
        if await self._restore(record, resolved.image):
            log.info("sandbox %s restored from the %s snapshot into the pool", record.id, template)
        else:
            record = self._pooled_record(resolved)  # nothing of the failed restore's
            await self.bring_up.run(record, ColdBoot(resolved.image, resolved.start))
        return Pooled(record, resolved.image)

    def _pooled_alive(self, pooled: Pooled) -> bool:
        live = self.live.get(pooled.record.id)
        return live is not None and self.runtime.poll(live.process)

    async def _claim(self, request: CreateRequest, image: Image) -> SandboxRecord | None:
        """Hand out a pooled sandbox made exactly what a cold create would have made, or None."""
        assert self.pool is not None
        if request.disk_mb != self.settings.default_disk_mb:
            return None  # pooled sandboxes have the default disk (a file system's size is fixed)
        while (pooled := self.pool.take(request.template, image)) is not None:
            record, live = pooled.record, self.live.running(pooled.record.id)
            limits = (request.cpu, request.memory_mb)
            if limits != (record.cpu, record.memory_mb):
                try:
                    await asyncio.to_thread(self.runtime.set_limits, live.process, *limits)
                except OSError as exc:  # e.g. less memory than the idle sandbox already uses
                    log.info("pooled sandbox cannot take those limits (%s): going cold", exc)
                    with contextlib.suppress(OSError):
                        self.runtime.set_limits(live.process, record.cpu, record.memory_mb)
                    self.pool.put_back(pooled)
                    return None
            try:
                await self.bring_up.attach_network(live.process, request.network)
                if request.envs:
                    # A cold sandbox has them from launch; here the agent and the gateway read
                    # them from the run folder and the running Python kernel is told directly.
                    self.runtime.set_envs(live.process, request.envs)
                    await live.kernels.export_env(request.envs)
            except Exception:
                log.exception("pooled sandbox %s refused its variables: discarding it", record.id)
                self.pool.discard_later(pooled)
                continue
            except BaseException:
                self.pool.discard_later(pooled)
                raise
            record.metadata, record.envs = request.metadata, request.envs
            record.network, record.workdir = request.network, request.workdir
            record.auto_resume = request.auto_resume
            record.cpu, record.memory_mb = limits
            _hand_out(record, request)
            self.store.put_sandbox(record)
            log.info("sandbox %s handed out from the warm pool", record.id)
            return record
        return None

    # -- the template snapshot ----------------------------------------------------------------
    async def _take_snapshot(self, template: str) -> None:
        """Checkpoint a freshly booted sandbox of the template, once per build of it (kept on
        disk): restoring it skips the gateway's and the kernel's start-up."""
        resolved = await self.resolve(template)
        if await asyncio.to_thread(self.runtime.snapshot_info, resolved.image) is not None:
            return
        await self._snapshot(resolved)

    async def snapshot(self, resolved: Resolved, say: template_start.Log) -> None:
        """Take the snapshot of a template just built (its start command run until ready, as
        ``say`` tells); its creates restore it from now on."""
        if self.pool is None or not self.pool.snapshots_on:
            raise CheckpointError("template snapshots are off on this host")
        await self._snapshot(resolved, say)
        self.pool.snapshot_ready(resolved.name)

    async def _snapshot(self, resolved: Resolved, say: template_start.Log | None = None) -> None:
        template, image = resolved.name, resolved.image
        record = self._pooled_record(resolved)
        live = await self.bring_up.run(record, ColdBoot(image, resolved.start, say))
        taking: asyncio.Future[None] | None = None
        try:
            self.live.pop(record.id)
            (python,) = [c for c in live.kernels.contexts.values() if c.language.name == "python"]
            await live.close()  # a checkpoint holds no connection from outside the sandbox
            info = {"kernel_id": python.kernel_id or "", "cwd": python.cwd}
            taking = asyncio.ensure_future(
                asyncio.to_thread(self.runtime.take_snapshot, live.process, image, info)
            )
            await asyncio.shield(taking)
        finally:
            await live.close()  # no-op once closed
            if taking is not None:
                # Cancelled (a stop) during the dump: CRIU goes on in its thread. The tree goes
                # once it is over: killed under CRIU, it can leave CRIU waiting on it for good.
                await asyncio.gather(taking, return_exceptions=True)
            await self.bring_up.tear_down(record)
        log.info("snapshot of %s taken", template)

    async def _restore(self, record: SandboxRecord, image: Image) -> bool:
        """Bring ``record``'s sandbox up from the template's snapshot; False if there is no
        usable snapshot (nothing is left behind)."""
        assert self.pool is not None
        template = record.template
        if self.pool.snapshots.get(template) != "ready":
            return False
        info = await asyncio.to_thread(self.runtime.snapshot_info, image)
        if info is None:
            self.pool.snapshot_stale(template)  # the template was rebuilt: take a new one
            return False
        launcher = SnapshotRestore(image, info)
        try:
            await self.bring_up.run(record, launcher)
        except SandboxNotFoundError:
            raise  # killed while it came up: not the snapshot's fault
        except Exception:
            log.exception("restore from the %s snapshot failed: starting cold", template)
            if launcher.unusable:  # CRIU could not restore its images: take it again
                await asyncio.to_thread(self.runtime.discard_snapshot, image)
            if launcher.unusable or launcher.restored:
                self.pool.snapshot_broken(template)
            # else the sandbox's own set-up failed (its folder, its cgroups): not the snapshot's
            return False
        return True


def _hand_out(record: SandboxRecord, request: CreateRequest) -> None:
    record.state, record.on_timeout = "running", request.on_timeout
    # The lifetime counts from when the sandbox is ready, not from the request.
    record.created_at = now()
    record.expires_at = record.created_at + timedelta(seconds=request.seconds)
