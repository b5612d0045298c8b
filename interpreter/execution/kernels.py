"""Contexts (one kernel each) of one sandbox, and running code in them: a cell's order, output
budget, retries and recovery from bombs here; its exchange with the kernel in ``cells``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from interpreter.core.errors import (
    ContextNotFoundError,
    ExecutionTimeoutError,
    InterpreterError,
    InvalidRequestError,
    KernelError,
    KernelGoneError,
)
from interpreter.core.events import CellError, Event, Result, Stderr, Stdout
from interpreter.core.files import read_tail
from interpreter.core.pressure import Pressure
from interpreter.core.sandbox_fs import SandboxSocket
from interpreter.execution import cells, messages
from interpreter.execution.gateway import GatewayClient, KernelChannel
from interpreter.execution.languages import Language

log = logging.getLogger(__name__)

REVIVE_SECONDS = 10.0  # a kernel brought back after a bomb must answer within this
LOST_NOTICE = (
    "[the kernel of this context had died (the sandbox hit its limits, or its Jupyter server "
    "was restarted): this code runs in a restarted kernel; the earlier variables are lost]\n"
)
GATEWAY_BACK = 15.0  # seconds a restarting gateway may take to answer again


@dataclass
class KernelContext:
    """A context as the gateway side knows it: its language, cwd and (once started) kernel."""

    id: str
    language: Language
    cwd: str
    kernel_id: str | None = None  # None until the first run: kernels start when first used
    prepared: bool = False  # cwd applied in the current kernel process (lost when it restarts)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    channel: KernelChannel | None = None
    lost: bool = False  # its kernel was gone (the gateway restarted): a new one replaced it


class BombGuard(Protocol):
    """The host's view of the sandbox's limits (service/contexts.py gives the runtime's)."""

    def pressure(self) -> Pressure | None: ...

    async def reap_strays(self) -> int | None: ...


class SandboxKernels:
    """The kernels of one sandbox, reached through its gateway."""

    def __init__(
        self,
        socket_path: SandboxSocket,
        on_kernel_started: Callable[[KernelContext], None] | None = None,
        guard: BombGuard | None = None,
        envs: dict[str, str] | None = None,
    ) -> None:
        self.gateway = GatewayClient(socket_path)
        # The sandbox's variables, for kernels that do not read them from their environment
        # (Language.env_at_start).
        self.envs = dict(envs or {})
        self.contexts: dict[str, KernelContext] = {}
        self._on_kernel_started = on_kernel_started or (lambda context: None)
        self.guard = guard
        self._seen: Pressure | None = None  # the counters after the last run's recovery
        self.closed = False  # by close(): channels closed by us, not by a gateway that died
        self._setup: list[asyncio.Task[None]] = []  # run_silent_soon's waits for answers

    async def wait_ready(self, timeout: float, alive: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.gateway.socket_path.exists() and await self.gateway.ready():
                return True
            if not alive():
                return False
            await asyncio.sleep(0.01)
        return False

    async def close(self) -> None:
        self.closed = True
        for task in self._setup:
            task.cancel()
        for context in self.contexts.values():
            if context.channel is not None:
                await context.channel.close()
        await self.gateway.close()

    def add(
        self,
        language: Language,
        cwd: str,
        context_id: str | None = None,
        kernel_id: str | None = None,
    ) -> KernelContext:
        """Know a context; its kernel starts on first use unless ``kernel_id`` says it runs."""
        context = KernelContext(context_id or uuid.uuid4().hex, language, cwd, kernel_id)
        self.contexts[context.id] = context
        return context

    async def start(self, context: KernelContext) -> None:
        """Start the context's kernel now (it is started on first use otherwise)."""
        async with context.lock:
            await self._ensure_kernel(context)

    async def _ensure_kernel(self, context: KernelContext) -> KernelChannel:
        if context.kernel_id is None:
            try:
                kernel_id = await self.gateway.start_kernel(context.language.kernel)
            except InterpreterError as exc:
                raise KernelError(self._start_failure(context, str(exc))) from exc
            try:
                context.channel = await self.gateway.connect(kernel_id)
            except InterpreterError as exc:
                with contextlib.suppress(InterpreterError):
                    await self.gateway.delete_kernel(kernel_id)
                raise KernelError(self._start_failure(context, str(exc))) from exc
            context.kernel_id = kernel_id
            self._on_kernel_started(context)
        if context.channel is None or not context.channel.is_open:
            try:
                context.channel = await self.gateway.connect(context.kernel_id)
            except KernelGoneError:
                log.info("kernel %s is gone: a new one for %s", context.kernel_id, context.id)
                context.kernel_id, context.prepared, context.lost = None, False, True
                return await self._ensure_kernel(context)
            except KernelError:
                # The gateway may be restarting (its supervisor brings it back after a crash,
                # e.g. OOM-killed in a bomb): once it answers, its kernels are new ones.
                back = lambda: not self.closed  # noqa: E731
                if await self.gateway.ready() or not await self.wait_ready(GATEWAY_BACK, back):
                    raise
                return await self._ensure_kernel(context)
        if not context.prepared:
            try:
                await cells.run_silent(context.channel, context.language.chdir(context.cwd))
            except KernelError as exc:
                raise InvalidRequestError(f"cannot work in {context.cwd!r}: {exc}") from exc
            export = context.language.export_env
            if context.language.env_at_start and self.envs and export is not None:
                await cells.run_silent(context.channel, export(self.envs))
            context.prepared = True
        return context.channel

    async def export_env(self, envs: dict[str, str]) -> None:
        """Set sandbox-wide variables in every running kernel, for good (a sandbox from the warm
        pool: its kernels started before it got its variables)."""
        self.envs.update(envs)
        for context in self.contexts.values():
            if context.kernel_id is None:
                continue  # starts later, from the gateway's environment (and self.envs)
            export = context.language.export_env
            if export is None:
                raise KernelError(f"cannot set variables in a running {context.language.name}")
            async with context.lock:
                await cells.run_silent(await self._ensure_kernel(context), export(envs))

    async def run_silent(self, context_id: str, code: str) -> None:
        """Run service code in a context: no output, no execution count; raises on an error."""
        context = self.get(context_id)
        async with context.lock:
            await cells.run_silent(await self._ensure_kernel(context), code)

    async def run_silent_soon(self, context_id: str, code: str) -> None:
        """``run_silent`` without waiting for the kernel's answer here: the code is sent now,
        ``setup_done`` waits for it (and raises its error), and the context's other uses wait
        for it meanwhile. A restored sandbox's set-up cell (~12 ms) so overlaps the rest of
        its bring-up."""
        context = self.get(context_id)
        await context.lock.acquire()  # released once the kernel answered
        try:
            channel = await self._ensure_kernel(context)
        except BaseException:
            context.lock.release()
            raise
        task = asyncio.create_task(cells.run_silent(channel, code))
        task.add_done_callback(lambda _: context.lock.release())  # even if never begun
        self._setup.append(task)

    async def setup_done(self) -> None:
        """Wait for every ``run_silent_soon`` cell; raise the first one's error."""
        setup, self._setup = self._setup, []
        try:
            await asyncio.gather(*setup)
        finally:
            for task in setup:
                task.cancel()  # if one failed or this was cancelled: the others are not needed

    def _start_failure(self, context: KernelContext, reason: str) -> str:
        # The kernel's own words are in the gateway's log (it inherits its stderr).
        folder = self.gateway.socket_path.folder
        log_tail = read_tail(folder / "run" / "supervisor.log", 1500, beneath=folder).strip()
        return (
            f"the {context.language.name} kernel ({context.language.kernel}) failed to start: "
            f"{reason}" + (f"\nkernel log:\n{log_tail}" if log_tail else "")
        )

    def get(self, context_id: str) -> KernelContext:
        try:
            return self.contexts[context_id]
        except KeyError:
            raise ContextNotFoundError(f"context {context_id!r} not found") from None

    async def restart_context(self, context_id: str) -> None:
        context = self.get(context_id)
        async with context.lock:
            if context.kernel_id is None:
                return  # never started: nothing to clear
            await self.gateway.restart_kernel(context.kernel_id)
            context.prepared = False
            await self._ensure_kernel(context)

    async def interrupt_context(self, context_id: str) -> None:
        """Interrupt the cell running in it (SIGINT to its kernel: it ends with the language's
        interrupt error, the context's state is kept); nothing if none runs."""
        context = self.get(context_id)
        if context.kernel_id is not None:
            await self.gateway.interrupt_kernel(context.kernel_id)

    async def delete_context(self, context_id: str) -> None:
        context = self.contexts.pop(context_id, None)
        if context is None:
            raise ContextNotFoundError(f"context {context_id!r} not found")
        if context.channel is not None:
            await context.channel.close()
        if context.kernel_id is not None:
            with contextlib.suppress(InterpreterError):
                await self.gateway.delete_kernel(context.kernel_id)

    async def run(
        self,
        context_id: str,
        code: str,
        envs: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Event]:
        """Run a cell; yield its events. Cells of one context run in order, one at a time."""
        context = self.get(context_id)
        await context.lock.acquire()
        channel: KernelChannel | None = None
        msg_id: str | None = None
        try:
            before = await self._pressure_before()
            channel = await self._ensure_kernel(context)
            lost = context.lost
            for attempt in (1, 2):
                if lost or context.lost:
                    context.lost = lost = False
                    yield Stderr(text=LOST_NOTICE, timestamp=datetime.now(UTC))
                if envs:
                    try:
                        await cells.run_silent(channel, context.language.set_env(envs))
                    except KernelError as exc:
                        if not cells.not_begun(exc) or attempt == 2 or self.closed:
                            raise
                        await self._revive(context, fresh=False)  # as below
                        channel, lost = await self._ensure_kernel(context), True
                        continue
                request = messages.execute_request(code)
                msg_id = request["header"]["msg_id"]
                queue = channel.listen(msg_id)
                settle = context.language.settle_seconds
                budget = cells.OutputBudget()
                died = failed = rerun = False
                try:
                    async for event in cells.execute(
                        self.gateway,
                        channel,
                        request,
                        queue,
                        timeout,
                        settle,
                        context.language.chunks,
                    ):
                        if isinstance(event, Stdout | Stderr):
                            taken = budget.take(event)
                            if taken is None:
                                continue
                            event = taken
                        elif isinstance(event, Result):
                            result = budget.take_result(event)
                            if result is None:
                                continue
                            event = result
                        elif isinstance(event, CellError) and event.name == cells.DIED_BEFORE_RUN:
                            # Killed before this cell began (by a bomb elsewhere): run it again
                            # in the restarted kernel, once.
                            context.prepared = False
                            if attempt == 1:
                                rerun = True
                                break
                            died = True
                            event = CellError(
                                name=cells.KERNEL_DIED, value=event.value, traceback=""
                            )
                        elif isinstance(event, CellError) and event.name == cells.KERNEL_DIED:
                            context.prepared = False  # the restarted kernel needs its cwd again
                            died = True
                            event = await self._after_bomb(context, before, died=True) or event
                        elif isinstance(event, CellError):
                            failed = True
                        yield event
                except ExecutionTimeoutError:
                    channel.unlisten(msg_id)
                    msg_id = None  # cells.execute interrupted the cell and waited for it
                    await self._after_bomb(context, before, failed=True)
                    raise
                except KernelError as exc:
                    if not cells.not_begun(exc) or attempt == 2 or self.closed:
                        raise
                    # Its gateway died (killed) before the cell began: run it in the kernel
                    # that replaces the lost one, once.
                    context.prepared, rerun = False, True
                channel.unlisten(msg_id)
                msg_id = None
                if rerun:
                    await self._revive(context, fresh=False)
                    channel, lost = await self._ensure_kernel(context), True
                    continue
                if not died:
                    verdict = await self._after_bomb(context, before, failed=failed)
                    if verdict is not None:
                        yield verdict
                break
        finally:
            if msg_id is None or channel is None:
                await self._after(context, channel, envs)
            else:
                # Cancelled (client gone) or failed mid-cell: interrupt and tidy up in the
                # background, still holding the lock, since our own awaits may be cancelled.
                asyncio.create_task(self._recover(context, channel, msg_id, envs))

    # -- bombs: one recovery for a fork bomb, a memory bomb, a kernel that died ---------------
    async def _pressure_before(self) -> Pressure | None:
        """The sandbox's counters before a run; a bomb left running by an earlier run or a
        command (they grew since) has its strays killed first."""
        if self.guard is None:
            return None
        now = self.guard.pressure()
        if now is not None and self._seen is not None and now.since(self._seen):
            killed = await self.guard.reap_strays()
            log.info("sandbox hit its limits between runs: %s stray processes killed", killed)
            now = self.guard.pressure()
        self._seen = now
        return now

    async def _after_bomb(
        self,
        context: KernelContext,
        before: Pressure | None,
        died: bool = False,
        failed: bool = False,
    ) -> CellError | None:
        """After a run: if its kernel died or the sandbox hit its memory or process limit,
        kill the processes no service owns, bring the kernel back (restarting it if the cell
        failed at the process limit: its own children may be the bomb, e.g. ``os.fork()`` in
        a loop) and say what happened. None: nothing did."""
        if self.guard is None:
            return None
        now = self.guard.pressure()
        oom = now is not None and before is not None and now.oom_since(before)
        pids = now is not None and before is not None and now.pids_since(before)
        if not (died or oom or pids):
            return None
        started = time.monotonic()
        reaped = await self.guard.reap_strays()
        killed = reaped or 0
        restart = pids and failed and not died
        if restart:
            await self._drop_kernel(context)
            killed += await self.guard.reap_strays() or 0  # its children, orphaned now
        if died or restart:
            # The gateway restarts a dead kernel on the same ports, which what it left may
            # still hold: after strays, a new kernel process.
            await self._revive(context, fresh=restart or reaped != 0)
        self._seen = self.guard.pressure()
        log.info(
            "kernel %s: %s; %d stray processes killed, recovered in %.0f ms",
            context.kernel_id,
            "died" if died else ("restarted" if restart else "went on"),
            killed,
            (time.monotonic() - started) * 1000,
        )
        causes = []
        if oom and now is not None:
            causes.append(f"out of memory (the sandbox's {now.memory_limit >> 20} MiB limit)")
        if pids and now is not None:
            causes.append(f"the process limit ({now.pids_limit} processes and threads) was hit")
        cause = " and ".join(causes)
        strays = f"; {killed} stray processes were killed" if killed else ""
        if died:
            value = (
                f"The kernel died while running this code{': ' + cause if cause else ''}. "
                f"It was restarted; its variables are lost{strays}."
            )
        elif restart:
            value = (
                f"This code hit a limit of the sandbox: {cause}. The kernel was restarted; "
                f"its variables are lost{strays}."
            )
        else:
            # The kernel lives on (another process was killed): said, not an error.
            return (
                None
                if not killed and not oom
                else CellError(
                    name="ResourceLimitError",
                    value=f"The sandbox hit a limit while this code ran: {cause}{strays}.",
                    traceback="",
                )
            )
        return CellError(name=cells.KERNEL_DIED, value=value, traceback="")

    async def _revive(self, context: KernelContext, fresh: bool) -> None:
        """Make the context's kernel answer again: the one the gateway restarted, or (``fresh``,
        or it does not answer) a new kernel process. A failure is left to the next run."""
        for attempt in ("restarted", "new"):
            if self.closed:
                return  # the sandbox is going (killed, paused)
            if attempt == "new" or fresh:
                await self._drop_kernel(context)
            try:
                await asyncio.wait_for(self._ensure_kernel(context), REVIVE_SECONDS)
                return
            except (InterpreterError, TimeoutError) as exc:
                log.info("%s kernel does not answer after a bomb: %r", attempt, exc)
            if fresh:
                return

    async def _drop_kernel(self, context: KernelContext) -> None:
        """End the context's kernel process: the next use starts a new one."""
        if context.channel is not None:
            await context.channel.close()
            context.channel = None
        if context.kernel_id is not None:
            with contextlib.suppress(InterpreterError):
                await self.gateway.delete_kernel(context.kernel_id)
        context.kernel_id = None
        context.prepared = False

    async def _after(
        self, context: KernelContext, channel: KernelChannel | None, envs: dict[str, str] | None
    ) -> None:
        try:
            if envs and channel is not None and channel.is_open:
                await cells.run_silent(channel, context.language.restore_env(envs))
        except KernelError as exc:  # e.g. the cell removed what set_env kept: the run stands
            log.info("variables of context %s not restored after a run: %s", context.id, exc)
        finally:
            context.lock.release()

    async def _recover(
        self,
        context: KernelContext,
        channel: KernelChannel,
        msg_id: str,
        envs: dict[str, str] | None,
    ) -> None:
        try:
            await cells.interrupt(self.gateway, channel, channel.listen(msg_id))
        except Exception as exc:  # the sandbox may be gone; nothing more to do
            log.debug("interrupt of %s failed: %s", context.id, exc)
        finally:
            channel.unlisten(msg_id)
            await self._after(context, channel, envs)
