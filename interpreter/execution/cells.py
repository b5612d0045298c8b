"""One cell's exchange with a kernel: the execute_request sent on its channel, its messages read
back as events until the kernel replied and went idle; a silent cell; an interrupt; the output
budget of one execution. ``kernels.SandboxKernels`` runs cells through these."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from interpreter.core.errors import ExecutionTimeoutError, KernelDiedError, KernelError
from interpreter.core.events import CellError, Event, Keepalive, Result, Stderr, Stdout
from interpreter.execution import messages
from interpreter.execution.gateway import (
    MAX_MESSAGE_BYTES,
    ChannelClosed,
    GatewayClient,
    KernelChannel,
)

KEEPALIVE_SECONDS = 5.0
INTERRUPT_GRACE_SECONDS = 5.0
KERNEL_DIED = "KernelDiedError"
DIED_BEFORE_RUN = "KernelDiedBeforeRun"  # execute's, internal: run() runs the cell again
MAX_STREAM_BYTES = 16 * 2**20  # stdout + stderr of one execution delivered to the client


class NotBegun(Exception):
    """The cause of a KernelError raised before the kernel began the cell: its channel closed
    (its gateway died, killed or in a bomb, while the channel was thought open)."""


def not_begun(exc: KernelError) -> bool:
    return isinstance(exc.__cause__, NotBegun)


class OutputBudget:
    """Caps the output of one execution (stdout, stderr and results: plots, tables, displays,
    at their JSON size): past the cap, one visible marker, then nothing."""

    def __init__(self, limit: int = MAX_STREAM_BYTES) -> None:
        self.left = limit
        self.dropped = False

    def take(self, event: Stdout | Stderr) -> Stdout | Stderr | None:
        if self.dropped:
            return None
        size = len(event.text.encode())
        if size <= self.left:
            self.left -= size
            return event
        self.dropped = True
        kept = event.text.encode()[: max(self.left, 0)].decode(errors="ignore")
        marker = f"\n[output truncated: more than {MAX_STREAM_BYTES // 2**20} MiB]\n"
        return type(event)(text=kept + marker, timestamp=event.timestamp)

    def take_result(self, event: Result) -> Result | Stderr | None:
        if self.dropped:
            return None
        size = len(event.model_dump_json())
        if size <= self.left:
            self.left -= size
            return event
        self.dropped = True  # a result is not cut: it is replaced by the marker (on stderr)
        marker = f"[output truncated: more than {MAX_STREAM_BYTES // 2**20} MiB; a result of "
        return Stderr(text=marker + f"{size} bytes was dropped]\n", timestamp=datetime.now(UTC))


async def run_silent(channel: KernelChannel, code: str, timeout: float = 30.0) -> None:
    request = messages.execute_request(code, silent=True)
    msg_id = request["header"]["msg_id"]
    try:
        queue = channel.listen(msg_id)
        async for event in execute(None, channel, request, queue, timeout):
            if isinstance(event, CellError):
                failed = KernelDiedError if event.name == KERNEL_DIED else KernelError
                raise failed(f"setup code failed in the kernel: {event.name}: {event.value}")
    finally:
        channel.unlisten(msg_id)


async def execute(
    gateway: GatewayClient | None,
    channel: KernelChannel,
    request: dict[str, Any],
    queue: asyncio.Queue[dict[str, Any] | ChannelClosed],
    timeout: float | None,
    settle: float = 0.0,
    chunks: Callable[[str], list[str]] | None = None,
) -> AsyncIterator[Event]:
    """Send an execute_request and yield its events until the kernel replied and went idle
    (and, for kernels that announce idle early, ``settle`` seconds more); ``chunks`` cuts
    stream text as the language's E2B kernel does."""
    msg_id = request["header"]["msg_id"]
    silent = request["content"]["silent"]
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    replied = idle = started = False
    settle_until: float | None = None
    try:
        await channel.send(request)
    except KernelError as exc:  # the channel was closed (found so only now)
        raise KernelError(str(exc)) from NotBegun(exc)
    while True:
        # One reading of the clock per turn: read twice, the end of the settle window could
        # fall between them and be taken for the deadline (a run "timed out" at once: uvloop's
        # clock moves in milliseconds).
        now = loop.time()
        if replied and idle:
            if settle <= 0:
                break
            settle_until = settle_until or now + settle
            if now >= settle_until:
                break
        if deadline is not None and now >= deadline:
            if gateway is not None:
                await interrupt(gateway, channel, queue)
            raise ExecutionTimeoutError(f"execution timed out after {timeout:g} s")
        wait = KEEPALIVE_SECONDS if settle_until is None else settle_until - now
        if deadline is not None:
            wait = min(wait, deadline - now)
        try:
            # A message already queued (they come in bursts) is taken at once; else waited for
            # in this task (asyncio.timeout: wait_for's own task and its hops cost every run).
            if queue.qsize():
                msg = queue.get_nowait()
            else:
                async with asyncio.timeout(wait):
                    msg = await queue.get()
        except TimeoutError:
            if settle_until is None and (deadline is None or loop.time() < deadline):
                yield Keepalive()
            continue
        if isinstance(msg, ChannelClosed):
            if msg.too_big:  # the channel refused it: the kernel goes on (reconnected next run)
                yield CellError(
                    name="OutputLimitError",
                    value=f"The kernel sent a message larger than {MAX_MESSAGE_BYTES >> 20} MiB "
                    "(a huge display or output): it was dropped, with the rest of this "
                    "cell's output.",
                    traceback="",
                )
                return
            lost = KernelError("the connection to the kernel was lost")
            if not started:
                raise lost from NotBegun()
            raise lost
        msg_type = msg["header"]["msg_type"]
        if msg_type == "status":
            state = _state(msg)
            ours = msg.get("parent_header", {}).get("msg_id") == msg_id
            if state == "idle" and ours:
                idle = True
            elif state == "busy" and ours:
                started = True
            elif state in ("restarting", "dead", "autorestarting"):
                yield CellError(
                    name=KERNEL_DIED if started else DIED_BEFORE_RUN,
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
            elif _status(msg) == "error" and silent:
                # A silent cell's error is in its reply only (its iopub output is not read).
                content = msg.get("content") or {}
                yield CellError(
                    name=str(content.get("ename") or "Error"),  # bash's is empty: exit status
                    value=str(content.get("evalue", "")),
                    traceback="",
                )
        elif not silent:
            event = messages.to_event(msg)
            if isinstance(event, Stdout | Stderr) and chunks is not None:
                for text in chunks(event.text):
                    yield type(event)(text=text, timestamp=event.timestamp)
            elif event is not None:
                yield event


async def interrupt(
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
