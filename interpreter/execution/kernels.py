"""Contexts (one kernel each) of one sandbox, and running code in them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interpreter.core.errors import ContextNotFoundError, ExecutionTimeoutError, KernelError
from interpreter.core.events import CellError, Event, Keepalive
from interpreter.execution import languages, messages
from interpreter.execution.gateway import ChannelClosed, GatewayClient, KernelChannel
from interpreter.execution.languages import Language

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 5.0
INTERRUPT_GRACE_SECONDS = 5.0
KERNEL_DIED = "KernelDiedError"


@dataclass
class Context:
    id: str  # the kernel's id in the sandbox's gateway
    language: Language
    cwd: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    channel: KernelChannel | None = None


class SandboxKernels:
    """The kernels of one sandbox, reached through its gateway."""

    def __init__(self, socket_path: Path) -> None:
        self.gateway = GatewayClient(socket_path)
        self.contexts: dict[str, Context] = {}

    async def wait_ready(self, timeout: float, alive: Any) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.gateway.socket_path.exists() and await self.gateway.ready():
                return True
            if not alive():
                return False
            await asyncio.sleep(0.01)
        return False

    async def close(self) -> None:
        for context in self.contexts.values():
            if context.channel is not None:
                await context.channel.close()
        await self.gateway.close()

    async def create_context(self, language: Language, cwd: str) -> Context:
        kernel_id = await self.gateway.start_kernel(language.kernel)
        context = Context(kernel_id, language, cwd)
        self.contexts[kernel_id] = context
        try:
            await self._prepare(context)
        except BaseException:
            self.contexts.pop(kernel_id, None)
            with contextlib.suppress(KernelError):
                await self.gateway.delete_kernel(kernel_id)
            raise
        return context

    def adopt(self, kernel_id: str, language: Language, cwd: str) -> Context:
        """Know a context whose kernel already runs (after a restart of the front end)."""
        context = self.contexts.setdefault(kernel_id, Context(kernel_id, language, cwd))
        return context

    def get(self, context_id: str) -> Context:
        try:
            return self.contexts[context_id]
        except KeyError:
            raise ContextNotFoundError(f"context {context_id!r} not found") from None

    async def restart_context(self, context_id: str) -> None:
        context = self.get(context_id)
        async with context.lock:
            await self.gateway.restart_kernel(context.id)
            await self._prepare(context)

    async def delete_context(self, context_id: str) -> None:
        context = self.get(context_id)
        self.contexts.pop(context_id, None)
        if context.channel is not None:
            await context.channel.close()
        with contextlib.suppress(KernelError):
            await self.gateway.delete_kernel(context.id)

    async def _channel(self, context: Context) -> KernelChannel:
        if context.channel is None or not context.channel.is_open:
            context.channel = await self.gateway.connect(context.id)
        return context.channel

    async def _prepare(self, context: Context) -> None:
        channel = await self._channel(context)
        await _run_silent(channel, languages.chdir_code(context.language, context.cwd))

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
            channel = await self._channel(context)
            if envs:
                await _run_silent(channel, languages.set_env_code(context.language, envs))
            request = messages.execute_request(code)
            msg_id = request["header"]["msg_id"]
            queue = channel.listen(msg_id)
            try:
                async for event in _execute(self.gateway, channel, request, queue, timeout):
                    yield event
            except ExecutionTimeoutError:
                channel.unlisten(msg_id)
                msg_id = None  # _execute interrupted the cell and waited for it
                raise
            channel.unlisten(msg_id)
            msg_id = None
        finally:
            if msg_id is None or channel is None:
                await self._after(context, channel, envs)
            else:
                # Cancelled (client gone) or failed mid-cell: interrupt and tidy up in the
                # background, still holding the lock, since our own awaits may be cancelled.
                asyncio.create_task(self._recover(context, channel, msg_id, envs))

    async def _after(
        self, context: Context, channel: KernelChannel | None, envs: dict[str, str] | None
    ) -> None:
        try:
            if envs and channel is not None and channel.is_open:
                await _run_silent(channel, context.language.restore_env)
        finally:
            context.lock.release()

    async def _recover(
        self, context: Context, channel: KernelChannel, msg_id: str, envs: dict[str, str] | None
    ) -> None:
        try:
            await _interrupt(self.gateway, channel, channel.listen(msg_id))
        except Exception as exc:  # the sandbox may be gone; nothing more to do
            log.debug("interrupt of %s failed: %s", context.id, exc)
        finally:
            channel.unlisten(msg_id)
            await self._after(context, channel, envs)


async def _run_silent(channel: KernelChannel, code: str, timeout: float = 30.0) -> None:
    request = messages.execute_request(code, silent=True)
    msg_id = request["header"]["msg_id"]
    try:
        queue = channel.listen(msg_id)
        async for event in _execute(None, channel, request, queue, timeout):
            if isinstance(event, CellError):
                raise KernelError(f"setup code failed in the kernel: {event.name}: {event.value}")
    finally:
        channel.unlisten(msg_id)


async def _execute(
    gateway: GatewayClient | None,
    channel: KernelChannel,
    request: dict[str, Any],
    queue: asyncio.Queue[dict[str, Any] | ChannelClosed],
    timeout: float | None,
) -> AsyncIterator[Event]:
    """Send an execute_request and yield its events until the kernel replied and went idle."""
    msg_id = request["header"]["msg_id"]
    silent = request["content"]["silent"]
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    replied = idle = False
    await channel.send(request)
    while not (replied and idle):
        wait = KEEPALIVE_SECONDS
        if deadline is not None:
            wait = min(wait, deadline - loop.time())
            if wait <= 0:
                if gateway is not None:
                    await _interrupt(gateway, channel, queue)
                raise ExecutionTimeoutError(f"execution timed out after {timeout:g} s")
        try:
            msg = await asyncio.wait_for(queue.get(), wait)
        except TimeoutError:
            if deadline is None or loop.time() < deadline:
                yield Keepalive()
            continue
        if isinstance(msg, ChannelClosed):
            raise KernelError("the connection to the kernel was lost")
        msg_type = msg["header"]["msg_type"]
        if msg_type == "status":
            state = _state(msg)
            if state == "idle" and msg.get("parent_header", {}).get("msg_id") == msg_id:
                idle = True
            elif state in ("restarting", "dead", "autorestarting"):
                yield CellError(
                    name=KERNEL_DIED,
                    value="The kernel died while running this code and was restarted; "
                    "its variables are lost.",
                    traceback="",
                )
                return
        elif msg_type == "execute_reply":
            replied = True
            if _status(msg) == "aborted" and not silent:
                yield CellError(
                    name="ExecutionAbortedError",
                    value="The kernel aborted this execution: an earlier one failed "
                    "while it was queued.",
                    traceback="",
                )
        elif not silent:
            event = messages.to_event(msg)
            if event is not None:
                yield event


async def _interrupt(
    gateway: GatewayClient, channel: KernelChannel, queue: asyncio.Queue[Any]
) -> None:
    """Interrupt the kernel and wait until the interrupted cell is over, so the next cell
    is not aborted by the KeyboardInterrupt."""
    await gateway.interrupt_kernel(channel.kernel_id)
    deadline = asyncio.get_running_loop().time() + INTERRUPT_GRACE_SECONDS
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            msg = await asyncio.wait_for(queue.get(), left)
        except TimeoutError:
            return
        if isinstance(msg, ChannelClosed) or _state(msg) in ("idle", "restarting", "dead"):
            return


def _state(msg: dict[str, Any]) -> str:
    content = msg.get("content")
    return str(content.get("execution_state", "")) if isinstance(content, dict) else ""


def _status(msg: dict[str, Any]) -> str:
    content = msg.get("content")
    return str(content.get("status", "")) if isinstance(content, dict) else ""
