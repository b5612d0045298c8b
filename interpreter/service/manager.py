"""SandboxManager: the one core every adapter (native API, E2B surface, CLI) calls.

Lifecycle (create, get, list, kill, timeouts), contexts and code execution. Records live in
SQLite; live sandboxes are re-attached after a restart of the front end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from interpreter.core.config import Settings
from interpreter.core.envs import checked_envs
from interpreter.core.errors import (
    CheckpointError,
    ConflictError,
    ContextNotFoundError,
    InterpreterError,
    InvalidRequestError,
    SandboxNotFoundError,
    SandboxStartError,
)
from interpreter.core.events import Event
from interpreter.core.models import ContextRecord, OnTimeout, SandboxRecord, now
from interpreter.core.store import Store
from interpreter.execution import languages
from interpreter.execution.kernels import Context, SandboxKernels
from interpreter.execution.languages import DEFAULT_CWD
from interpreter.runtime import images
from interpreter.runtime.base import Runtime, SandboxProcess, SandboxSpec, load_runtime
from interpreter.runtime.images import Image
from interpreter.service import metrics
from interpreter.service.agent_client import AgentClient
from interpreter.service.commands import SandboxCommands
from interpreter.service.execution import watched
from interpreter.service.fast_start import CreateRequest, FastStart
from interpreter.service.files import SandboxFiles
from interpreter.service.idempotency import IdempotentCreates
from interpreter.service.signing import Signer

log = logging.getLogger(__name__)


@dataclass
class LiveSandbox:
    process: SandboxProcess
    kernels: SandboxKernels
    files: SandboxFiles
    commands: SandboxCommands

    @classmethod
    def attach(cls, process: SandboxProcess, kernels: SandboxKernels) -> LiveSandbox:
        agent = AgentClient(process.agent_socket)
        return cls(process, kernels, SandboxFiles(agent), SandboxCommands(agent))

    async def close(self) -> None:
        await self.kernels.close()
        await self.files.agent.close()


class SandboxManager:
    def __init__(self, settings: Settings, runtime: Runtime | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.database_path)
        self.runtime = runtime or load_runtime("nsjail", settings)
        self.signer = Signer(settings.home / "signing.key")
        self._idempotent = IdempotentCreates(self.store)
        self.live: dict[str, LiveSandbox] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._sampler: asyncio.Task[None] | None = None
        self.metrics = metrics.MetricsHistory()
        self._killing: dict[str, asyncio.Task[None]] = {}
        # Pause, resume and kill of one sandbox take turns.
        self._locks: dict[str, asyncio.Lock] = {}
        self.fast_start: FastStart | None = None  # the front end's (start_pool); not the CLI's

    # -- lifecycle of the manager ---------------------------------------------------------
    async def start(self) -> None:
        for record in self.store.list_sandboxes(("starting", "running")):
            await self._reattach(record)
        self._reaper = asyncio.create_task(self._reap_forever())
        if self.settings.metrics_interval > 0:
            self._sampler = asyncio.create_task(self._sample_forever())

    async def stop(self) -> None:
        """Stop serving; sandboxes keep running and are re-attached at the next start (pooled
        ones are killed: nobody has them yet, and the next start boots fresh ones)."""
        if self.fast_start is not None:
            await self.fast_start.stop()
        for task in (self._reaper, self._sampler):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for live in self.live.values():
            await live.close()
        self.live.clear()
        self.store.close()

    async def _reattach(self, record: SandboxRecord) -> None:
        process = _process_of(record)
        if record.state == "running" and process and self.runtime.poll(process):
            kernels = self._kernels(record.id, process)
            for ctx in self.store.list_contexts(record.id):
                kernels.add(languages.resolve(ctx.language), ctx.cwd, ctx.id, ctx.kernel_id)
            self.live[record.id] = LiveSandbox.attach(process, kernels)
            log.info("re-attached sandbox %s", record.id)
            return
        log.warning("sandbox %s did not survive; cleaning up", record.id)
        if process:
            await asyncio.to_thread(self._destroy, process)
        else:  # stopped while starting: whatever it left is found by its folder
            await asyncio.to_thread(self._destroy_folder, record.id)
        self.store.delete_sandbox(record.id)

    # -- sandboxes --------------------------------------------------------------------------
    async def create(
        self,
        template: str | None = None,
        timeout: int | None = None,
        metadata: dict[str, str] | None = None,
        envs: dict[str, str] | None = None,
        cpu: float | None = None,
        memory_mb: int | None = None,
        on_timeout: OnTimeout = "kill",
        idempotency_key: str | None = None,
    ) -> SandboxRecord:
        """Create a sandbox and wait until it is ready: from the warm pool, else from the
        template's snapshot, else cold. ``on_timeout="pause"``: when its timeout fires it is
        paused (memory kept), not killed; ``"pause_files"``: paused keeping only its files. A
        repeat of an ``idempotency_key`` gets the sandbox its first create made."""
        template = template or self.settings.default_template
        request = CreateRequest(
            template=template,
            image=images.resolve(self.settings, template),
            seconds=self._timeout(timeout),
            cpu=cpu or self.settings.default_cpu,
            memory_mb=memory_mb or self.settings.default_memory_mb,
            metadata=metadata or {},
            envs=checked_envs(envs),
        )
        if idempotency_key is not None:
            return await self._idempotent.create(
                idempotency_key, lambda: self._create(request, on_timeout)
            )
        return await self._create(request, on_timeout)

    async def _create(self, request: CreateRequest, on_timeout: OnTimeout) -> SandboxRecord:
        fast = await self.fast_start.create(request) if self.fast_start else None
        if fast is not None:
            return self._set_on_timeout(fast, on_timeout)
        record = request.new_record("starting")
        await self._boot(record, request.image)
        record.state = "running"
        # The lifetime counts from when the sandbox is ready, not from the request.
        record.expires_at = now() + timedelta(seconds=request.seconds)
        self.store.put_sandbox(record)
        return self._set_on_timeout(record, on_timeout)

    def _set_on_timeout(self, record: SandboxRecord, on_timeout: OnTimeout) -> SandboxRecord:
        if on_timeout != record.on_timeout:
            record.on_timeout = on_timeout
            self.store.put_sandbox(record)
        return record

    async def _boot(self, record: SandboxRecord, image: Image) -> None:
        """Launch a sandbox and wait until it is ready: gateway and agent answer, the default
        Python context's kernel runs. A cold create and the warm pool both boot through here."""
        spec = SandboxSpec(record.id, image, record.cpu, record.memory_mb, record.envs)
        self.store.put_sandbox(record)
        launching = asyncio.ensure_future(asyncio.to_thread(self.runtime.launch, spec))
        try:
            process = await asyncio.shield(launching)
        except asyncio.CancelledError:
            # The launch goes on in its thread: let it finish, then undo it.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._destroy, await launching)
            self.store.delete_sandbox(record.id)
            await asyncio.to_thread(self._destroy_folder, record.id)
            raise
        except Exception as exc:
            self.store.delete_sandbox(record.id)
            await asyncio.to_thread(self._destroy_folder, record.id)
            raise SandboxStartError(f"sandbox failed to start: {exc}") from exc
        record.pid, record.jail_pid, record.folder = (
            process.pid,
            process.jail_pid,
            str(process.folder),
        )
        self.store.put_sandbox(record)
        kernels = self._kernels(record.id, process)
        self.live[record.id] = LiveSandbox.attach(process, kernels)
        try:
            ready = await kernels.wait_ready(
                self.settings.sandbox_ready_timeout, lambda: self.runtime.poll(process)
            ) and await self._agent_ready(self.live[record.id])
            if not ready:
                raise SandboxStartError(
                    "sandbox did not become ready: " + self.runtime.diagnostics(process)
                )
            # The default contexts E2B clients expect; only Python's kernel starts now.
            await self._create_context(record.id, kernels, "python", DEFAULT_CWD, True, start=True)
            await self._create_context(record.id, kernels, "javascript", DEFAULT_CWD, True)
        except BaseException:
            if record.state == "pooled":
                await self._kill(record)  # invisible: nobody else can be killing it
            else:
                await self.kill(record.id)
            raise

    # -- fast start (warm pool, template snapshots) -----------------------------------------
    async def start_pool(self) -> None:
        """Keep ready sandboxes per template (the serving front end only, after start())."""
        self.fast_start = FastStart(self)
        await self.fast_start.start()

    async def discard_pooled(self) -> list[str]:
        """Kill every pooled sandbox the store knows of (`sandbox kill --all`)."""
        return await FastStart(self).discard_pooled()

    def pool_status(self) -> list[dict[str, object]]:
        return self.fast_start.status() if self.fast_start else []

    async def _agent_ready(self, live: LiveSandbox) -> bool:
        deadline = asyncio.get_running_loop().time() + self.settings.sandbox_ready_timeout
        while asyncio.get_running_loop().time() < deadline:
            if live.process.agent_socket.exists() and await live.files.agent.ready():
                return True
            await asyncio.sleep(0.01)
        return False

    def _kernels(self, sandbox_id: str, process: SandboxProcess) -> SandboxKernels:
        def remember_kernel(context: Context) -> None:
            for record in self.store.list_contexts(sandbox_id):
                if record.id == context.id:
                    record.kernel_id = context.kernel_id
                    self.store.put_context(record)

        return SandboxKernels(process.gateway_socket, on_kernel_started=remember_kernel)

    def _timeout(self, timeout: int | None) -> int:
        seconds = timeout or self.settings.default_timeout
        if seconds > self.settings.max_timeout:
            raise InvalidRequestError(
                f"timeout {seconds} s is above the maximum of {self.settings.max_timeout} s"
            )
        return seconds

    def get(self, sandbox_id: str) -> SandboxRecord:
        record = self.store.get_sandbox(sandbox_id)
        if record is None or record.state in ("killed", "pooled"):
            raise SandboxNotFoundError(f"sandbox {sandbox_id!r} not found")
        return record

    def list(self, metadata: dict[str, str] | None = None) -> list[SandboxRecord]:
        wanted = (metadata or {}).items()
        return [r for r in self.store.list_sandboxes() if wanted <= r.metadata.items()]

    async def set_timeout(self, sandbox_id: str, timeout: int) -> SandboxRecord:
        record = self.get(sandbox_id)
        record.expires_at = now() + timedelta(seconds=self._timeout(timeout))
        self.store.put_sandbox(record)
        return record

    async def kill(self, sandbox_id: str) -> None:
        """Kill a sandbox: processes, mounts, cgroups and its folder go; so does its record."""
        record = self.get(sandbox_id)
        task = self._killing.get(sandbox_id)
        if task is None:
            task = asyncio.create_task(self._kill_in_turn(record))
            self._killing[sandbox_id] = task
        try:
            await asyncio.shield(task)
        finally:
            self._killing.pop(sandbox_id, None)

    async def _kill_in_turn(self, record: SandboxRecord) -> None:
        async with self._lock(record.id):  # after a pause or resume in progress
            await self._kill(self.store.get_sandbox(record.id) or record)
        self._locks.pop(record.id, None)

    async def _kill(self, record: SandboxRecord) -> None:
        live = self.live.pop(record.id, None)
        if live is not None:
            await live.close()
        process = live.process if live else _process_of(record)
        if process is not None:
            await asyncio.to_thread(self._destroy, process)
        else:
            await asyncio.to_thread(self._destroy_folder, record.id)
        self.store.delete_sandbox(record.id)
        self.metrics.forget(record.id)

    def _destroy(self, process: SandboxProcess) -> None:
        self.runtime.kill(process)
        self.runtime.cleanup(process)

    def _destroy_folder(self, sandbox_id: str) -> None:
        folder = self.settings.sandboxes_path / sandbox_id
        process = SandboxProcess(sandbox_id, folder, pid=-1, jail_pid=-1)
        if folder.exists():
            self.runtime.cleanup(process)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reaper_interval)
            for sandbox_id in self.store.expired(now()):
                record = self.store.get_sandbox(sandbox_id)
                if record and record.state == "running" and record.on_timeout != "kill":
                    memory = record.on_timeout == "pause"
                    log.info("sandbox %s timed out: pausing it (memory=%s)", sandbox_id, memory)
                    try:
                        await self.pause(sandbox_id, memory=memory)
                        continue
                    except Exception:
                        log.exception("reaper could not pause %s: killing it", sandbox_id)
                log.info("sandbox %s timed out: killing it", sandbox_id)
                try:
                    await self.kill(sandbox_id)
                except Exception:
                    log.exception("reaper could not kill %s", sandbox_id)

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.metrics_interval)
            for record in self.store.list_sandboxes(("running",)):
                try:
                    await asyncio.to_thread(self.metrics.sample, record)
                except Exception:  # a sandbox killed meanwhile; the next round goes on
                    log.debug("no metrics sample of %s", record.id, exc_info=True)

    async def metrics_between(
        self, sandbox_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[metrics.SandboxMetrics]:
        """The sandbox's sampled use between ``start`` and ``end``, and its use now when the
        range reaches the present."""
        record = self.get(sandbox_id)
        series = self.metrics.between(sandbox_id, start, end)
        if end is None or end >= now():
            series.append(await asyncio.to_thread(metrics.read, record))
        return series

    async def live_sandbox(self, sandbox_id: str) -> LiveSandbox:
        """The running sandbox; a paused one is resumed first (every adapter comes through here)."""
        if sandbox_id not in self.live:
            await self.resume(sandbox_id)  # waits out a pause or resume in progress too
        return self._live(sandbox_id)

    # -- pause / resume ---------------------------------------------------------------------
    def _lock(self, sandbox_id: str) -> asyncio.Lock:
        return self._locks.setdefault(sandbox_id, asyncio.Lock())

    async def pause(self, sandbox_id: str, memory: bool = True) -> SandboxRecord:
        """Pause a running sandbox: its processes end, its files stay. With ``memory`` its whole
        process tree is checkpointed first (CRIU) and ``resume`` brings it back exactly as it
        was (variables, processes, open files); without, ``resume`` boots it fresh on its files.
        A failed checkpoint leaves the sandbox running and raises the error."""
        async with self._lock(sandbox_id):
            record = self.get(sandbox_id)
            if record.state == "paused":
                raise ConflictError(f"sandbox {sandbox_id!r} is already paused")
            live = self.live.get(sandbox_id)
            if record.state != "running" or live is None:
                raise ConflictError(f"sandbox {sandbox_id!r} is {record.state}: cannot pause it")
            # Connections from the host are not part of the tree CRIU dumps: close them first.
            del self.live[sandbox_id]
            await live.close()
            try:
                await asyncio.to_thread(self.runtime.pause, live.process, memory)
            except BaseException as exc:
                if self.runtime.poll(live.process):  # CRIU resumed it: reconnect
                    self.live[sandbox_id] = self._attach(record.id, live.process)
                if isinstance(exc, InterpreterError):
                    raise
                if isinstance(exc, Exception):
                    raise CheckpointError(f"could not pause sandbox {sandbox_id!r}: {exc}") from exc
                raise
            record.state = "paused"
            record.pid = record.jail_pid = None
            # A paused sandbox's clock stops; it is deleted if not resumed within max_timeout.
            record.expires_at = now() + timedelta(seconds=self.settings.max_timeout)
            self.store.put_sandbox(record)
            log.info("sandbox %s paused (memory=%s)", sandbox_id, memory)
            return record

    async def resume(
        self, sandbox_id: str, timeout: int | None = None, memory: bool = True
    ) -> SandboxRecord:
        """Resume a paused sandbox (a running one is returned as is). From its checkpoint if it
        has one (``memory=False``: discard it and boot fresh on the kept files)."""
        async with self._lock(sandbox_id):
            record = self.get(sandbox_id)
            if record.state != "paused":
                return record
            seconds = self._timeout(timeout)
            restore = memory and self.runtime.has_checkpoint(sandbox_id)
            if restore:
                try:
                    process = await asyncio.to_thread(
                        self.runtime.restore, sandbox_id, record.cpu, record.memory_mb
                    )
                except InterpreterError as exc:
                    raise CheckpointError(
                        f"sandbox {sandbox_id!r} could not be restored from its checkpoint; it "
                        "stays paused with its files kept (resume with memory=false to boot it "
                        f"fresh on them, losing its memory state). {exc}"
                    ) from exc
            else:
                image = await asyncio.to_thread(images.resolve, self.settings, record.template)
                spec = SandboxSpec(record.id, image, record.cpu, record.memory_mb, record.envs)
                await asyncio.to_thread(self.runtime.discard_checkpoint, sandbox_id)
                process = await asyncio.to_thread(self.runtime.launch, spec)
            live = self._attach(record.id, process, fresh=not restore)
            try:
                await self._until_ready(live)
                if not restore:  # as at create: the default Python kernel runs
                    for ctx in self.store.list_contexts(sandbox_id):
                        if ctx.is_default and ctx.language == "python":
                            await live.kernels.start(live.kernels.get(ctx.id))
            except BaseException:
                await live.close()
                await asyncio.to_thread(self.runtime.kill, process)
                await asyncio.to_thread(self.runtime.discard_checkpoint, sandbox_id)
                raise
            self.live[sandbox_id] = live
            record.state = "running"
            record.pid, record.jail_pid = process.pid, process.jail_pid
            record.expires_at = now() + timedelta(seconds=seconds)
            self.store.put_sandbox(record)
            log.info("sandbox %s resumed (%s)", sandbox_id, "memory" if restore else "fresh")
            return record

    def _attach(self, sandbox_id: str, process: SandboxProcess, fresh: bool = False) -> LiveSandbox:
        kernels = self._kernels(sandbox_id, process)
        for ctx in self.store.list_contexts(sandbox_id):
            if fresh and ctx.kernel_id is not None:
                ctx.kernel_id = None  # its kernel is gone: a new one starts on first use
                self.store.put_context(ctx)
            context = kernels.add(languages.resolve(ctx.language), ctx.cwd, ctx.id, ctx.kernel_id)
            context.prepared = ctx.kernel_id is not None  # a restored kernel kept its own cwd
        return LiveSandbox.attach(process, kernels)

    async def _until_ready(self, live: LiveSandbox) -> None:
        if not (
            await live.kernels.wait_ready(
                self.settings.sandbox_ready_timeout, lambda: self.runtime.poll(live.process)
            )
            and await self._agent_ready(live)
        ):
            raise SandboxStartError(
                "resumed sandbox did not become ready: " + self.runtime.diagnostics(live.process)
            )

    def _live(self, sandbox_id: str) -> LiveSandbox:
        self.get(sandbox_id)
        live = self.live.get(sandbox_id)
        if live is None:
            raise SandboxNotFoundError(f"sandbox {sandbox_id!r} is not running")
        return live

    async def files(self, sandbox_id: str) -> SandboxFiles:
        """The sandbox's files (operations run inside it, through its agent)."""
        return (await self.live_sandbox(sandbox_id)).files

    async def commands(self, sandbox_id: str) -> SandboxCommands:
        """The sandbox's processes (run inside it, through its agent)."""
        return (await self.live_sandbox(sandbox_id)).commands

    # -- contexts ---------------------------------------------------------------------------
    async def create_context(
        self, sandbox_id: str, language: str | None = None, cwd: str | None = None
    ) -> ContextRecord:
        live = await self.live_sandbox(sandbox_id)
        return await self._create_context(
            sandbox_id, live.kernels, language, cwd or DEFAULT_CWD, start=True
        )

    async def _create_context(
        self,
        sandbox_id: str,
        kernels: SandboxKernels,
        language: str | None,
        cwd: str,
        default: bool = False,
        start: bool = False,
    ) -> ContextRecord:
        if not cwd.startswith("/") or "\0" in cwd:
            raise InvalidRequestError(f"cwd must be an absolute path, got {cwd!r}")
        lang = languages.resolve(language)
        context = kernels.add(lang, cwd)
        record = ContextRecord(
            id=context.id,
            sandbox_id=sandbox_id,
            language=lang.name,
            cwd=cwd,
            created_at=now(),
            is_default=default,
        )
        self.store.put_context(record)
        if start:
            try:
                await kernels.start(context)
            except BaseException:
                self.store.delete_context(sandbox_id, context.id)
                with contextlib.suppress(InterpreterError):
                    await kernels.delete_context(context.id)
                raise
        return record

    def list_contexts(self, sandbox_id: str) -> list[ContextRecord]:
        self.get(sandbox_id)
        return self.store.list_contexts(sandbox_id)

    def _context(self, sandbox_id: str, context_id: str) -> ContextRecord:
        for record in self.list_contexts(sandbox_id):
            if record.id == context_id:
                return record
        raise ContextNotFoundError(f"context {context_id!r} not found in sandbox {sandbox_id!r}")

    async def restart_context(self, sandbox_id: str, context_id: str) -> None:
        self._context(sandbox_id, context_id)
        await (await self.live_sandbox(sandbox_id)).kernels.restart_context(context_id)

    async def delete_context(self, sandbox_id: str, context_id: str) -> None:
        self._context(sandbox_id, context_id)
        await (await self.live_sandbox(sandbox_id)).kernels.delete_context(context_id)
        self.store.delete_context(sandbox_id, context_id)

    # -- execution --------------------------------------------------------------------------
    async def prepare_run(
        self, sandbox_id: str, language: str | None = None, context_id: str | None = None
    ) -> ContextRecord:
        """Pick (or lazily create) the context a run goes to; raises before any output."""
        if language is not None and context_id is not None:
            raise InvalidRequestError("give either language or context_id, not both")
        await self.live_sandbox(sandbox_id)  # resumes a paused sandbox before the run
        if context_id is not None:
            return self._context(sandbox_id, context_id)
        lang = languages.resolve(language)
        for record in self.list_contexts(sandbox_id):
            if record.is_default and record.language == lang.name:
                return record
        live = await self.live_sandbox(sandbox_id)
        return await self._create_context(sandbox_id, live.kernels, lang.name, DEFAULT_CWD, True)

    def run(
        self,
        context: ContextRecord,
        code: str,
        envs: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Event]:
        live = self._live(context.sandbox_id)
        events = live.kernels.run(context.id, code, envs=checked_envs(envs), timeout=timeout)
        return watched(self, context.sandbox_id, live, events)  # killed under it: SandboxGoneError


def _process_of(record: SandboxRecord) -> SandboxProcess | None:
    if record.pid is None or record.jail_pid is None or record.folder is None:
        return None
    return SandboxProcess(record.id, Path(record.folder), record.pid, record.jail_pid)
