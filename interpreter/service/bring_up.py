"""Bringing a sandbox up: one sequence of steps for every way a sandbox comes to life.

    record → launch (in a thread, finished and undone if the caller is cancelled) → record PIDs
    → connect (gateway and agent clients, stored contexts) → wait for the gateway → prepare
    (contexts, variables) → the agent answers → live

A way to start is a ``Launcher``: how its processes come to be (a cold boot, a template
snapshot's restore, a checkpoint's restore, a boot on kept files) and how it is made ready
after. Everything else, the failure handling above all, is the pipeline's: a failed or cancelled
bring-up of a new sandbox removes all of it; one of a paused sandbox leaves it paused with its
files. ``tear_down`` is the inverse: what every kill goes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from interpreter.core.config import Settings
from interpreter.core.errors import (
    CheckpointError,
    InterpreterError,
    SandboxNotFoundError,
    SandboxStartError,
)
from interpreter.core.models import SandboxRecord, SnapshotRecord
from interpreter.core.network import Network, is_domain
from interpreter.core.store import Store
from interpreter.core.templates import StartSpec
from interpreter.execution import languages
from interpreter.runtime.base import Egress, Image, Limits, Runtime, SandboxProcess, SandboxSpec
from interpreter.service import template_start
from interpreter.service.contexts import Contexts
from interpreter.service.live import LiveSandbox, LiveSandboxes, process_of
from interpreter.service.volumes import mounts_of

log = logging.getLogger(__name__)


class Launcher(ABC):
    """One way a sandbox's processes come to be, and what makes it ready after."""

    # A new sandbox: a failure removes it. A resume's failure leaves it paused, files kept.
    new_sandbox = True
    # Its processes are new: kernels the store remembers for it do not run any more.
    fresh = True
    # Wait for the gateway to answer (it starts up); a snapshot's was listening when checkpointed.
    wait_for_gateway = True

    @abstractmethod
    def launch(self, runtime: Runtime, record: SandboxRecord) -> SandboxProcess:
        """Start the processes (blocking: runs in a thread)."""

    async def prepare(self, bring_up: BringUp, record: SandboxRecord, live: LiveSandbox) -> None:
        """Make the started sandbox what its callers expect (contexts, variables)."""
        return None

    def failure(self, record: SandboxRecord, exc: Exception) -> InterpreterError:
        """The error a failed launch is reported as."""
        return SandboxStartError(f"sandbox failed to start: {exc}")


@dataclass
class ColdBoot(Launcher):
    """A new sandbox booted from its image: the gateway, agent and kernels start now, then the
    template's start command (if it has one) until its ready command succeeds."""

    image: Image
    start: StartSpec | None = None
    log: template_start.Log | None = None  # the start's progress (a template build's log)

    def launch(self, runtime: Runtime, record: SandboxRecord) -> SandboxProcess:
        return runtime.launch(_spec(record, self.image))

    async def prepare(self, bring_up: BringUp, record: SandboxRecord, live: LiveSandbox) -> None:
        await bring_up.contexts.create_defaults(record.id, live.kernels)
        if self.start is not None:
            await template_start.start(live.commands, self.start, self.log)


@dataclass
class BuildBoot(Launcher):
    """A template build's sandbox for one step: the agent only (files, commands), on the
    image the steps before made."""

    image: Image
    wait_for_gateway = False

    def launch(self, runtime: Runtime, record: SandboxRecord) -> SandboxProcess:
        return runtime.launch(_spec(record, self.image, agent_only=True))


@dataclass
class SnapshotRestore(Launcher):
    """A new sandbox restored from its template's snapshot: its Python kernel already runs,
    with pandas and matplotlib imported; it gets its own variables and fresh random seeds."""

    image: Image
    info: dict[str, str]  # what the snapshot's Python kernel was: its kernel id and cwd
    wait_for_gateway = False
    unusable = False  # CRIU could not restore the snapshot's images: it must be taken again
    restored = False  # its processes were restored (a later failure is not the images')

    def launch(self, runtime: Runtime, record: SandboxRecord) -> SandboxProcess:
        try:
            process = runtime.restore_snapshot(self.image, record.id, limits_of(record))
        except CheckpointError:
            self.unusable = True
            raise
        self.restored = True
        return process

    async def prepare(self, bring_up: BringUp, record: SandboxRecord, live: LiveSandbox) -> None:
        kernels = live.kernels
        python = kernels.add(
            languages.resolve("python"), self.info["cwd"], None, self.info["kernel_id"]
        )
        python.prepared = True  # its cwd was set before the checkpoint
        await bring_up.contexts.adopt(record.id, kernels, python, default=True)
        await kernels.start(python)  # connects to the restored kernel
        # One silent cell: fresh random seeds (every restore starts from the same generator
        # state) and the request's variables; answered while the bring-up goes on.
        lang, envs = python.language, record.envs
        setup = [lang.reseed, lang.export_env(envs) if envs and lang.export_env else None]
        await kernels.run_silent_soon(python.id, "\n".join(code for code in setup if code))
        await bring_up.contexts.create(record.id, kernels, "javascript", default=True)
        if record.envs:
            bring_up.runtime.set_envs(live.process, record.envs)


@dataclass
class SandboxSnapshotRestore(Launcher):
    """A new sandbox restored from a running sandbox's snapshot: its kernels (every context,
    their variables) and processes run on; the Python kernels get fresh random seeds."""

    snapshot: SnapshotRecord
    wait_for_gateway = False

    def launch(self, runtime: Runtime, record: SandboxRecord) -> SandboxProcess:
        return runtime.restore_sandbox_snapshot(self.snapshot.id, record.id, limits_of(record))

    async def prepare(self, bring_up: BringUp, record: SandboxRecord, live: LiveSandbox) -> None:
        kernels = live.kernels
        for source in self.snapshot.contexts:
            language = languages.resolve(source.language)
            context = kernels.add(language, source.cwd, source.id, source.kernel_id)
            context.prepared = True
            await bring_up.contexts.adopt(record.id, kernels, context, default=source.is_default)
            if source.kernel_id is not None:
                await kernels.start(context)  # connects to the restored kernel
                if language.reseed:  # answered meanwhile, every context's at once
                    await kernels.run_silent_soon(context.id, language.reseed)


class CheckpointRestore(Launcher):
    """A paused sandbox brought back from its checkpoint: processes, kernels and their memory
    continue as they were."""

    new_sandbox = False
    fresh = False

    def launch(self, runtime: Runtime, record: SandboxRecord) -> SandboxProcess:
        return runtime.restore(record.id, limits_of(record))

    def failure(self, record: SandboxRecord, exc: Exception) -> InterpreterError:
        return CheckpointError(
            f"sandbox {record.id!r} could not be restored from its checkpoint; it "
            "stays paused with its files kept (resume with memory=false to boot it fresh on "
            f"them, losing its memory state). {exc}"
        )


@dataclass
class FilesOnlyBoot(Launcher):
    """A paused sandbox booted fresh on its kept files (its checkpoint, if any, discarded)."""

    image: Image
    start: StartSpec | None = None
    new_sandbox = False

    def launch(self, runtime: Runtime, record: SandboxRecord) -> SandboxProcess:
        runtime.discard_checkpoint(record.id)
        return runtime.launch(_spec(record, self.image))

    async def prepare(self, bring_up: BringUp, record: SandboxRecord, live: LiveSandbox) -> None:
        await bring_up.contexts.start_default_python(record.id, live.kernels)
        if self.start is not None:  # as at its first boot: the template's processes run
            await template_start.start(live.commands, self.start)


class BringUp:
    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        store: Store,
        live: LiveSandboxes,
        contexts: Contexts,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.live = live
        self.contexts = contexts

    async def run(self, record: SandboxRecord, launcher: Launcher) -> LiveSandbox:
        """Bring ``record``'s sandbox up with ``launcher``; it is live when this returns. The
        caller sets the record's final state (running, pooled) and lifetime."""
        self.store.put_sandbox(record)
        process = await self._launch(record, launcher)
        record.pid, record.jail_pid, record.folder = (
            process.pid,
            process.jail_pid,
            str(process.folder),
        )
        self.store.put_sandbox(record)  # a front end killed from here on finds it by its PIDs
        live: LiveSandbox | None = None
        try:
            await self.attach_network(process, record.network)
            kernels = self.contexts.kernels_of(
                record.id, process, fresh=launcher.fresh, prepared=not launcher.fresh
            )
            live = LiveSandbox.connect(process, kernels)
            await self._ready(record, launcher, live)
            if launcher.new_sandbox and self.store.get_sandbox(record.id) is None:
                # Killed while it came up (its record was listed): tear_down took the rest.
                raise SandboxNotFoundError(f"sandbox {record.id!r} was killed while starting")
        except BaseException:
            await _shielded(self._undo(record, launcher, live, process))
            raise
        self.live.add(record.id, live)
        return live

    async def attach_network(self, process: SandboxProcess, network: Network) -> None:
        """Give a started sandbox the network its record asks for (nothing: loopback only)."""
        if not network.enabled:
            return
        try:
            await asyncio.to_thread(self.runtime.set_network, process, egress_of(network))
        except OSError as exc:
            raise SandboxStartError(f"the sandbox's network could not be set up: {exc}") from exc

    async def _launch(self, record: SandboxRecord, launcher: Launcher) -> SandboxProcess:
        launching = asyncio.ensure_future(asyncio.to_thread(launcher.launch, self.runtime, record))
        try:
            return await asyncio.shield(launching)
        except asyncio.CancelledError:
            # The launch goes on in its thread: let it finish, then undo it.
            await _shielded(self._undo_launch(record, launcher, launching))
            raise
        except Exception as exc:
            await _shielded(self._undo(record, launcher, None))
            raise launcher.failure(record, exc) from exc

    async def _undo_launch(
        self, record: SandboxRecord, launcher: Launcher, launching: asyncio.Future[SandboxProcess]
    ) -> None:
        process = None
        with contextlib.suppress(Exception):
            process = await launching
        await self._undo(record, launcher, None, process)

    async def _ready(self, record: SandboxRecord, launcher: Launcher, live: LiveSandbox) -> None:
        timeout = self.settings.sandbox_ready_timeout
        alive = lambda: self.runtime.poll(live.process)  # noqa: E731
        agent = asyncio.create_task(self._agent_ready(live, timeout))
        try:
            if launcher.wait_for_gateway and not await live.kernels.wait_ready(timeout, alive):
                raise SandboxStartError(
                    "sandbox did not become ready: " + self.runtime.diagnostics(live.process)
                )
            await launcher.prepare(self, record, live)
            if not await agent:
                raise SandboxStartError(
                    "the sandbox's agent does not answer: " + self.runtime.diagnostics(live.process)
                )
            await live.kernels.setup_done()  # set-up cells sent by prepare, answered meanwhile
        finally:
            agent.cancel()

    async def _agent_ready(self, live: LiveSandbox, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if live.process.agent_socket.exists() and await live.agent.ready():
                return True
            await asyncio.sleep(0.01)
        return False

    async def _undo(
        self,
        record: SandboxRecord,
        launcher: Launcher,
        live: LiveSandbox | None,
        process: SandboxProcess | None = None,
    ) -> None:
        if live is not None:
            await live.close()
            process = live.process
        if launcher.new_sandbox:
            try:
                await asyncio.to_thread(
                    self._destroy, process or self.runtime.unrecorded(record.id)
                )
            finally:
                self.store.delete_sandbox(record.id)
                record.pid = record.jail_pid = None
            return
        # A resume: the sandbox stays paused on its files (a restored checkpoint is used up).
        try:
            if process is not None:
                await asyncio.to_thread(self.runtime.kill, process)
                await asyncio.to_thread(self.runtime.discard_checkpoint, record.id)
        finally:
            record.pid = record.jail_pid = None
            if self.store.get_sandbox(record.id) is not None:
                self.store.put_sandbox(record)

    async def tear_down(self, record: SandboxRecord) -> None:
        """Remove a sandbox: processes, mounts, cgroups, its folder, its record. Waits for a
        pause or resume of it in progress."""
        async with self.live.lock(record.id):
            record = self.store.get_sandbox(record.id) or record
            live = self.live.pop(record.id)
            if live is not None:
                await live.close("killed")
            process = live.process if live else process_of(record)
            try:
                await asyncio.to_thread(
                    self._destroy, process or self.runtime.unrecorded(record.id)
                )
            finally:
                self.store.delete_sandbox(record.id)
            # A bring-up that finished meanwhile (it found the record still there) went live.
            late = self.live.pop(record.id)
            if late is not None:
                await late.close("killed")
        self.live.forget_lock(record.id)

    def _destroy(self, process: SandboxProcess) -> None:
        if process.recorded:
            self.runtime.kill(process)
        elif not process.folder.exists():
            return
        self.runtime.cleanup(process)


async def _shielded(undo: Coroutine[Any, Any, None]) -> None:
    """Run clean-up to its end even if the caller is cancelled again meanwhile."""
    await asyncio.shield(asyncio.ensure_future(undo))


def _spec(record: SandboxRecord, image: Image, agent_only: bool = False) -> SandboxSpec:
    return SandboxSpec(
        record.id, image, limits_of(record), record.envs, agent_only=agent_only,
        volumes=mounts_of(record),
    )  # fmt: skip


def egress_of(network: Network) -> Egress | None:
    """What the runtime enforces for a sandbox's network (None: no egress)."""
    if not network.enabled:
        return None
    domains = tuple(e for e in network.allow_out if is_domain(e))
    addresses = tuple(e for e in network.allow_out if not is_domain(e))
    return Egress(allow=addresses, allow_domains=domains, deny=tuple(network.deny_out))


def limits_of(record: SandboxRecord) -> Limits:
    return Limits(record.cpu, record.memory_mb, record.disk_mb)
