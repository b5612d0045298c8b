"""SandboxManager: the one core every adapter (native API, E2B surface, CLI) calls.

A facade: lifecycle (create, get, list, kill, timeouts, pause, resume), contexts and code
execution, each a few lines over the parts that do the work: the bring-up pipeline
(``bring_up``), the fast paths (``fast_start``: warm pool, template snapshots), the running
sandboxes and their locks (``live``), contexts (``contexts``) and the background loops
(``reaper``, ``sampler``). Records live in SQLite; live sandboxes are re-attached after a restart
of the front end (``reattach``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from interpreter.core import lifecycle
from interpreter.core.config import Settings
from interpreter.core.envs import checked_envs
from interpreter.core.errors import (
    ConflictError,
    InterpreterError,
    InvalidRequestError,
    SandboxNotFoundError,
    SandboxStartError,
)
from interpreter.core.events import Event
from interpreter.core.lifecycle_store import LifecycleStore
from interpreter.core.models import ContextRecord, SandboxRecord, SnapshotRecord, now
from interpreter.core.network import Network
from interpreter.core.options import CreateRequest, SandboxOptions, lifetime, network_for
from interpreter.core.store import Store
from interpreter.core.text import checked_text
from interpreter.execution.languages import DEFAULT_CWD
from interpreter.runtime.base import Runtime, load_runtime
from interpreter.service import metrics, ports
from interpreter.service.bring_up import (
    BringUp,
    ColdBoot,
    egress_of,
)
from interpreter.service.build_files import BuildFiles
from interpreter.service.commands import SandboxCommands
from interpreter.service.contexts import Contexts
from interpreter.service.fast_start import FastStart
from interpreter.service.files import SandboxFiles
from interpreter.service.idempotency import IdempotentCreates
from interpreter.service.lifecycle import EventPage, LifecycleEvents, noting_kernel_deaths
from interpreter.service.live import LiveSandbox, LiveSandboxes, process_of
from interpreter.service.notebook import Notebooks
from interpreter.service.pausing import Pauses
from interpreter.service.reaper import reap_forever
from interpreter.service.reattach import reattach
from interpreter.service.resident import ResidentPauses
from interpreter.service.runs import watched
from interpreter.service.sampler import sample_forever
from interpreter.service.secrets import Secrets
from interpreter.service.signing import Signer
from interpreter.service.snapshots import Snapshots, checked_count
from interpreter.service.templates import Templates
from interpreter.service.volumes import Volumes
from interpreter.service.webhooks import WebhookDelivery, Webhooks

log = logging.getLogger(__name__)
HIDDEN = ("killed", "pooled")  # the states of a record no client sees (SandboxNotFoundError)


class SandboxManager:
    def __init__(self, settings: Settings, runtime: Runtime | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.database_path)
        self.runtime = runtime or load_runtime("nsjail", settings)
        self.signer = Signer(settings.home / "signing.key")
        self.live = LiveSandboxes()
        self.contexts = Contexts(self.store, self.runtime)
        self.metrics = metrics.MetricsHistory()
        self.bring_up = BringUp(settings, self.runtime, self.store, self.live, self.contexts)
        files = BuildFiles(settings.home / "build-files", settings.max_build_files_mb << 20)
        self.templates = Templates(self.bring_up, files)
        self.secrets = Secrets(self.store)
        self.snapshots = Snapshots(self.bring_up, self.contexts)
        self.resident = ResidentPauses(settings, self.runtime, self.store, self.live, self.contexts)
        self.volumes = Volumes(settings, self.store, self.runtime)
        self.notebooks = Notebooks(settings.home / "notebooks")  # every run, as a cell
        self._idempotent = IdempotentCreates(self.store)
        events_store = LifecycleStore(self.store)
        self.webhook_delivery = WebhookDelivery(events_store, settings)
        # Every transition is recorded here (and queued for webhooks): events_of reads them.
        self.lifecycle = LifecycleEvents(events_store, self.webhook_delivery.wake)
        self.webhooks = Webhooks(events_store)
        self.pauses = Pauses(self.bring_up, self.resident, self.templates, self.lifecycle, self.get)
        self._loops: list[asyncio.Task[None]] = []
        self._killing: dict[str, asyncio.Task[None]] = {}
        self.fast_start: FastStart | None = None  # the front end's (start_pool); not the CLI's

    # -- lifecycle of the manager ---------------------------------------------------------
    async def start(self) -> None:
        self.templates.start()
        for record in self.store.list_sandboxes(("starting", "running", "paused")):
            await reattach(record, self.bring_up, self.resident, self.lifecycle, self.notebooks)
        # Notebooks of sandboxes gone while the front end was not there to see it (kill --local).
        self.notebooks.prune(keep={r.id for r in self.store.list_sandboxes()})
        self._loops.append(
            asyncio.create_task(
                reap_forever(
                    self.store,
                    self.settings.reaper_interval,
                    lambda sandbox_id, memory: self.pause(sandbox_id, memory, reason="timeout"),
                    lambda sandbox_id: self.kill(sandbox_id, reason="timeout"),
                    lambda: self.lifecycle.prune(self.settings.events_retention),
                )
            )
        )
        self._loops.append(asyncio.create_task(self.webhook_delivery.run_forever()))
        if self.settings.metrics_interval > 0:
            self._loops.append(
                asyncio.create_task(
                    sample_forever(
                        self.store,
                        self.runtime,
                        self.live,
                        self.metrics,
                        self.settings.metrics_interval,
                    )
                )
            )

    async def stop(self) -> None:
        """Stop serving; sandboxes keep running and are re-attached at the next start (pooled
        ones are killed: nobody has them yet, and the next start boots fresh ones)."""
        await self.templates.stop()
        await self.resident.stop()
        if self.fast_start is not None:
            await self.fast_start.stop()
        for task in self._loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.live.close_all()
        self.store.close()

    # -- sandboxes --------------------------------------------------------------------------
    async def create(
        self, options: SandboxOptions | None = None, idempotency_key: str | None = None
    ) -> SandboxRecord:
        """Create a sandbox and wait until it is ready: from the warm pool, else from the
        template's snapshot, else cold. ``on_timeout="pause"``: when its timeout fires it is
        paused (memory kept), not killed; ``"pause_files"``: paused keeping only its files. A
        repeat of an ``idempotency_key`` gets the sandbox its first create made."""
        request = CreateRequest.of(self.settings, options or SandboxOptions())
        request.envs = self.secrets.fill(request.envs)  # ${e2b.secrets.NAME} placeholders
        if idempotency_key is not None:
            return await self._idempotent.create(idempotency_key, lambda: self._create(request))
        return await self._create(request)

    async def _create(self, request: CreateRequest) -> SandboxRecord:
        record = await self._start_new(request)
        self.lifecycle.record(record, lifecycle.CREATED)
        return record

    async def _start_new(self, request: CreateRequest) -> SandboxRecord:
        # Checked paths → volume ids (400, 404 before anything starts), held until the create
        # is over: a volume's delete meanwhile, before its record lists them, is refused.
        request.volume_mounts = self.volumes.resolve_mounts(request.volume_mounts)
        with self.volumes.held(request.volume_mounts.values()):
            return await self._start_with_volumes(request)

    async def _start_with_volumes(self, request: CreateRequest) -> SandboxRecord:
        template = await self.templates.resolve(request.template)
        request.template = template.name  # E2B's names of ours: the record has ours
        # A built template's ENV (the create's variables win) and WORKDIR.
        request.envs = {**template.envs, **request.envs}
        request.workdir = template.start.workdir if template.start else None
        snapshot = template.snapshot
        if snapshot is not None:
            request.envs = {**snapshot.envs, **request.envs}
            request.workdir, request.network = snapshot.workdir, snapshot.network
            if snapshot.memory and request.volume_mounts:
                raise InvalidRequestError(
                    "volume mounts cannot be added to a sandbox restored from a snapshot with "
                    "memory: its processes were checkpointed without them"
                )
            if snapshot.memory:
                return await self.snapshots.restore(snapshot, request)
        # A pooled or snapshot-restored sandbox cannot be given mounts: with volumes, boot cold.
        fast = (
            await self.fast_start.create(request, template.image)
            if self.fast_start and not request.volume_mounts
            else None
        )
        if fast is not None:
            return fast
        record = request.new_record("starting")
        await self.bring_up.run(record, ColdBoot(template.image, template.start))
        record.state = "running"
        # The lifetime counts from when the sandbox is ready, not from the request.
        record.expires_at = now() + timedelta(seconds=request.seconds)
        self.store.put_sandbox(record)
        return record

    # -- fast start (warm pool, template snapshots) -----------------------------------------
    async def start_pool(self) -> None:
        """Keep ready sandboxes per template (the serving front end only, after start())."""
        self.fast_start = self._fast_start()
        await self.fast_start.start()
        self.templates.snapshot = (
            self.fast_start.snapshot if self.fast_start.pool_snapshots else None
        )

    async def discard_pooled(self) -> list[str]:
        """Kill every pooled sandbox the store knows of (`sandbox kill --all`)."""
        return await self._fast_start().discard_pooled()

    def _fast_start(self) -> FastStart:
        built = lambda: [t.name for t in self.templates.ready()]  # noqa: E731
        return FastStart(self.bring_up, self.templates.resolve, built)

    def pool_status(self) -> list[dict[str, object]]:
        return self.fast_start.status() if self.fast_start else []

    # -- snapshots and forks ----------------------------------------------------------------
    async def create_snapshot(
        self, sandbox_id: str, name: str | None = None, memory: bool = True
    ) -> SnapshotRecord:
        """A snapshot of a running sandbox, usable as a template (it runs on)."""
        async with self.live.lock(sandbox_id):
            record = self.get(sandbox_id)
            if record.state != "running":
                raise ConflictError(f"sandbox {sandbox_id!r} is {record.state}: not running")
            template = await self.templates.resolve(record.template)
            snapshot = await self.snapshots.take(record, template.image, name, memory)
            self.lifecycle.record(
                record, lifecycle.CHECKPOINTED, snapshot_id=snapshot.id, memory=memory
            )
            return snapshot

    async def fork(
        self, sandbox_id: str, count: int = 1, timeout: int | None = None
    ) -> builtins.list[SandboxRecord | InterpreterError]:
        """``count`` new running sandboxes with the source's memory and files (it runs on);
        for each fork, the sandbox or the error that kept it from starting."""
        checked_count(count)
        source = self.get(sandbox_id)
        snapshot = await self.create_snapshot(sandbox_id, memory=True)
        forks = await self.snapshots.fork(self.settings, source, snapshot, count, timeout)
        for fork in forks:
            if isinstance(fork, SandboxRecord):
                self.lifecycle.record(fork, lifecycle.CREATED, forked_from=sandbox_id)
        return forks

    async def delete_snapshot(self, ref: str) -> None:
        await self.snapshots.delete(ref)

    async def delete_template(self, name: str) -> None:
        """Delete a template built here: its pooled sandboxes and snapshot first (409 while
        clients' sandboxes use it); a snapshot's id deletes the snapshot (E2B's way)."""
        if self.snapshots.find(name) is not None:
            await self.snapshots.delete(name)
            return
        self.templates.check_deletable(name)
        if self.fast_start is not None:
            await self.fast_start.forget(name)
        await self.templates.delete(name)

    def events_of(
        self,
        sandbox_id: str,
        limit: int | str | None = None,
        direction: str | None = None,
        after: int | str | None = None,
    ) -> EventPage:
        """A page of the sandbox's lifecycle events (kept a while after it is gone)."""
        record = self.store.get_sandbox(sandbox_id)
        exists = record is not None and record.state not in HIDDEN
        return self.lifecycle.page(sandbox_id, exists, limit, direction, after)

    def get(self, sandbox_id: str) -> SandboxRecord:
        record = self.store.get_sandbox(sandbox_id)
        if record is None or record.state in HIDDEN:
            raise _not_found(sandbox_id)
        return record

    def reachable(self, sandbox_id: str) -> SandboxRecord:
        """The sandbox, if traffic may reach it: a paused one only if it resumes on traffic
        (``auto_resume``) and its pause kept its memory (a files-only pause boots fresh: only
        an explicit resume does that). Else SandboxNotFoundError, as E2B's proxy answers."""
        record = self.get(sandbox_id)
        if record.state == "paused" and not (
            record.auto_resume
            and (
                self.runtime.has_checkpoint(sandbox_id)
                or self.resident.resident(process_of(record))
            )
        ):
            raise SandboxNotFoundError(
                f"sandbox {sandbox_id!r} is paused and does not resume on traffic: connect to it"
            )
        return record

    def list(self, metadata: dict[str, str] | None = None) -> builtins.list[SandboxRecord]:
        wanted = (metadata or {}).items()
        return [r for r in self.store.list_sandboxes() if wanted <= r.metadata.items()]

    async def set_timeout(self, sandbox_id: str, timeout: int) -> SandboxRecord:
        record = self.get(sandbox_id)
        record.expires_at = now() + timedelta(seconds=lifetime(self.settings, timeout))
        self.store.put_sandbox(record)
        self.lifecycle.record(record, lifecycle.UPDATED, set_timeout=record.expires_at.isoformat())
        return record

    async def update_network(self, sandbox_id: str, network: Network) -> SandboxRecord:
        """New network rules (or egress turned on or off): at once for a running sandbox, at
        its resume for a paused one."""
        network = network_for(self.settings, network)
        async with self.live.lock(sandbox_id):
            record = self.get(sandbox_id)
            live = self.live.get(sandbox_id)
            if live is not None:
                try:
                    egress = egress_of(network)
                    await asyncio.to_thread(self.runtime.set_network, live.process, egress)
                except OSError as exc:
                    raise SandboxStartError(f"the network could not be changed: {exc}") from exc
            record.network = network
            self.store.put_sandbox(record)
            self.lifecycle.record(record, lifecycle.UPDATED, network=network.model_dump())
            return record

    async def open_port(self, sandbox_id: str, port: int) -> tuple[socket.socket, bytes]:
        """A byte tunnel to the sandbox's TCP ``port`` (resumed first if paused)."""
        live = await self.live_sandbox(sandbox_id)
        return await ports.open_tunnel(live.process.agent_socket, port)

    async def kill(self, sandbox_id: str, reason: str = "request") -> None:
        """Kill a sandbox: processes, mounts, cgroups and its folder go; so does its record.
        A kill in progress is joined, and goes on if the caller is cancelled. ``reason`` is
        its killed event's ("timeout": the reaper's)."""
        record = self.get(sandbox_id)
        task = self._killing.get(sandbox_id)
        if task is None:
            task = asyncio.create_task(self._kill(record, reason))
            self._killing[sandbox_id] = task
            task.add_done_callback(lambda _: self._killing.pop(sandbox_id, None))
        await asyncio.shield(task)

    async def _kill(self, record: SandboxRecord, reason: str) -> None:
        await self.bring_up.tear_down(record)
        self.lifecycle.record(record, lifecycle.KILLED, reason=reason)
        self.metrics.forget(record.id)
        self.notebooks.forget(record.id)

    async def metrics_between(
        self, sandbox_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[metrics.SandboxMetrics]:
        """The sandbox's sampled use between ``start`` and ``end``, and its use now when the
        range reaches the present."""
        self.get(sandbox_id)
        series = self.metrics.between(sandbox_id, start, end)
        if end is None or end >= now():
            series.append(await self.metrics_now(sandbox_id))
        return series

    async def metrics_now(self, sandbox_id: str) -> metrics.SandboxMetrics:
        """The sandbox's use now (zeros for CPU and memory while it is paused)."""
        record = self.get(sandbox_id)
        running = self.live.get(sandbox_id)
        process = running.process if running else process_of(record)
        process = process or self.runtime.unrecorded(sandbox_id)
        return await asyncio.to_thread(metrics.read, self.runtime, record, process)

    async def live_sandbox(self, sandbox_id: str) -> LiveSandbox:
        """The running sandbox; a paused one is resumed first (every adapter comes through here)."""
        if sandbox_id not in self.live:
            await self.resume(sandbox_id)  # waits out a pause or resume in progress too
        return self._live(sandbox_id)

    def _live(self, sandbox_id: str) -> LiveSandbox:
        # As ``get`` checks it, from the state column alone: on the path of every run, a
        # record parsed is ~40 us after an idle (issue 19).
        state = self.store.sandbox_state(sandbox_id)
        if state is None or state in HIDDEN:
            raise _not_found(sandbox_id)
        return self.live.running(sandbox_id)

    # -- pause / resume (see pausing.py) ------------------------------------------------------
    async def pause(
        self, sandbox_id: str, memory: bool = True, reason: str = "request"
    ) -> SandboxRecord:
        """Pause a running sandbox: its processes end, its files stay. With ``memory`` its whole
        process tree is checkpointed first (CRIU) and ``resume`` brings it back exactly as it
        was (variables, processes, open files); without, ``resume`` boots it fresh on its files.
        With ``memory`` and ``pause_resident_seconds``, it is frozen in memory and checkpointed
        in the background (resident.py): this returns at once. A failed checkpoint leaves the
        sandbox running and raises the error (in the background: it stays frozen). ``reason``
        is its paused event's ("timeout": the reaper's)."""
        return await self.pauses.pause(sandbox_id, memory, reason)

    async def resume(
        self, sandbox_id: str, timeout: int | None = None, memory: bool = True
    ) -> SandboxRecord:
        """Resume a paused sandbox (a running one is returned as is). From its checkpoint if it
        has one (``memory=False``: discard it and boot fresh on the kept files). A resume goes
        on if its caller is cancelled (a restore uses its checkpoint up: undoing it would lose
        the sandbox's memory); concurrent resumes of one sandbox join the first."""
        return await self.pauses.resume(sandbox_id, timeout, memory)

    async def files(self, sandbox_id: str) -> SandboxFiles:
        """The sandbox's files (operations run inside it, through its agent)."""
        return (await self.live_sandbox(sandbox_id)).files

    async def commands(self, sandbox_id: str) -> SandboxCommands:
        """The sandbox's processes (run inside it, through its agent); they start in its
        template's WORKDIR unless told otherwise."""
        live = await self.live_sandbox(sandbox_id)
        commands = live.commands
        commands.default_cwd = self.get(sandbox_id).workdir
        commands.watch = lambda events: watched(self, sandbox_id, live, events)
        return commands

    # -- contexts ---------------------------------------------------------------------------
    async def create_context(
        self, sandbox_id: str, language: str | None = None, cwd: str | None = None
    ) -> ContextRecord:
        live = await self.live_sandbox(sandbox_id)
        return await self.contexts.create(
            sandbox_id, live.kernels, language, cwd or DEFAULT_CWD, start=True
        )

    def list_contexts(self, sandbox_id: str) -> builtins.list[ContextRecord]:
        self.get(sandbox_id)
        return self.contexts.list(sandbox_id)

    async def restart_context(self, sandbox_id: str, context_id: str) -> None:
        self.get(sandbox_id)
        self.contexts.get(sandbox_id, context_id)
        live = await self.live_sandbox(sandbox_id)
        await self.contexts.restart(sandbox_id, live.kernels, context_id)

    async def interrupt_context(self, sandbox_id: str, context_id: str) -> None:
        self.get(sandbox_id)
        self.contexts.get(sandbox_id, context_id)
        live = await self.live_sandbox(sandbox_id)
        await live.kernels.interrupt_context(context_id)

    async def delete_context(self, sandbox_id: str, context_id: str) -> None:
        self.get(sandbox_id)
        self.contexts.get(sandbox_id, context_id)
        live = await self.live_sandbox(sandbox_id)
        await self.contexts.delete(sandbox_id, live.kernels, context_id)

    # -- execution --------------------------------------------------------------------------
    async def prepare_run(
        self, sandbox_id: str, language: str | None = None, context_id: str | None = None
    ) -> ContextRecord:
        """Pick (or lazily create) the context a run goes to; raises before any output."""
        if language is not None and context_id is not None:
            raise InvalidRequestError("give either language or context_id, not both")
        live = await self.live_sandbox(sandbox_id)  # resumes a paused sandbox before the run
        if context_id is not None:
            return self.contexts.get(sandbox_id, context_id)
        return await self.contexts.default_for(sandbox_id, live.kernels, language)

    def run(
        self,
        context: ContextRecord,
        code: str,
        envs: dict[str, str] | None = None,
        timeout: float | None = None,
        cell_id: str | None = None,
    ) -> AsyncIterator[Event]:
        # The sandbox was checked by prepare_run; it is still live (no record read here: a
        # kernel's death reads it, when it is recorded).
        live = self.live.running(context.sandbox_id)
        code, envs = checked_text("the code", code), checked_envs(envs)
        events = live.kernels.run(context.id, code, envs=envs, timeout=timeout)
        events = noting_kernel_deaths(events, self.store.get_sandbox, context, self.lifecycle)
        # Killed under it: SandboxGoneError. Whoever asked for it, the run is a notebook cell.
        watching = watched(self, context.sandbox_id, live, events)
        return self.notebooks.record(context, code, watching, cell_id)


def _not_found(sandbox_id: str) -> SandboxNotFoundError:
    return SandboxNotFoundError(f"sandbox {sandbox_id!r} not found")
