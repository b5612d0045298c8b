"""The host side of a sandbox's Jupyter Kernel Gateway: REST and kernel websockets over the
unix socket in the sandbox's run folder."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import re
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.frames import CloseCode
from websockets.typing import Subprotocol

from interpreter.core.errors import GatewayError, KernelError, KernelGoneError
from interpreter.core.sandbox_fs import SandboxSocket, unix_transport
from interpreter.execution import messages

log = logging.getLogger(__name__)

# Everything read from the sandbox is bounded. A kernel message larger than this closes the
# channel (websockets refuses it from its frame header, before reading it): more than one
# execution's whole output budget (cells.MAX_STREAM_BYTES), which it could never deliver.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_QUEUED_FRAMES = 4  # read ahead by the websocket before the reader takes them
MAX_INBOX_BYTES = 32 * 1024 * 1024  # parsed, waiting for one slow listener: then back-pressure
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # one REST answer of the gateway (kernel lists: ~200 B each)
KERNEL_START_TIMEOUT = 60.0  # the gateway answers the websocket once the kernel answered (a
# Deno kernel starting during a full test run on the 2-core host was seen past 30 s)
# Kernel ids come from the sandbox and go into URL paths: only the gateway's UUID form is used.
KERNEL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def kernel_id_of(value: object) -> str:
    """A kernel id the sandbox (or the store) gave, checked to be a UUID; GatewayError if not."""
    if not isinstance(value, str) or KERNEL_ID.fullmatch(value) is None:
        raise GatewayError(f"the sandbox gateway gave an invalid kernel id: {str(value)[:100]!r}")
    return value


class GatewayClient:
    def __init__(self, socket_path: SandboxSocket) -> None:
        # Reached through a checked descriptor at each connect: no link the sandbox plants in
        # its run folder redirects the host (and AF_UNIX's 108-byte path limit is avoided).
        self.socket_path = socket_path
        self._http = httpx.AsyncClient(
            transport=unix_transport(socket_path),
            base_url="http://sandbox",
            timeout=httpx.Timeout(30.0, connect=5.0),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self._http.stream(method, path, **kwargs) as response:
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise GatewayError(f"gateway {method} {path}: oversized answer")
        except httpx.HTTPError as exc:
            raise GatewayError(f"sandbox gateway unreachable: {exc}") from exc
        if response.status_code == 404:
            raise KernelError(f"kernel not found in the sandbox: {path}")
        if response.is_error:
            text = bytes(body[:500]).decode(errors="replace")
            raise GatewayError(f"gateway {method} {path}: {response.status_code} {text}")
        try:
            return json.loads(body) if body else None
        except ValueError:
            raise GatewayError(f"gateway {method} {path}: an answer that is not JSON") from None

    async def forward(
        self, method: str, path: str, content: bytes | None, params: dict[str, str]
    ) -> tuple[int, str, bytes]:
        """A request of a Jupyter client, passed as it is (the caller checked its path): the
        gateway's status, content type and answer (at most MAX_ANSWER_BYTES)."""
        try:
            async with self._http.stream(
                method, path, content=content, params=params, timeout=60.0,
                headers={"Content-Type": "application/json"} if content else None,
            ) as response:  # fmt: skip
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise GatewayError(f"gateway {method} {path}: oversized answer")
        except httpx.HTTPError as exc:
            raise GatewayError(f"sandbox gateway unreachable: {exc}") from exc
        kind = response.headers.get("content-type", "application/json")
        return response.status_code, kind, bytes(body)

    async def open_channels(self, kernel_id: str) -> ClientConnection:
        """A kernel's websocket of its own (a Jupyter client's, beside the service's)."""
        return await connect_channels(self.socket_path, kernel_id_of(kernel_id), max_queue=16)

    async def ready(self) -> bool:
        if self._http.is_closed:
            return False  # the sandbox is going: its connections were closed
        try:
            response = await self._http.get("/api", timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def start_kernel(self, name: str) -> str:
        kernel = await self._call("POST", "/api/kernels", json={"name": name})
        return kernel_id_of(kernel.get("id") if isinstance(kernel, dict) else None)

    async def list_kernels(self) -> list[dict[str, Any]]:
        kernels = await self._call("GET", "/api/kernels")
        if not isinstance(kernels, list) or not all(isinstance(k, dict) for k in kernels):
            raise GatewayError("the sandbox gateway listed kernels in an unknown form")
        for kernel in kernels:
            kernel_id_of(kernel.get("id"))
        return kernels

    async def interrupt_kernel(self, kernel_id: str) -> None:
        await self._call("POST", f"/api/kernels/{kernel_id_of(kernel_id)}/interrupt")

    async def restart_kernel(self, kernel_id: str) -> None:
        await self._call("POST", f"/api/kernels/{kernel_id_of(kernel_id)}/restart", timeout=60.0)

    async def delete_kernel(self, kernel_id: str) -> None:
        await self._call("DELETE", f"/api/kernels/{kernel_id_of(kernel_id)}")

    async def connect(self, kernel_id: str) -> KernelChannel:
        channel = KernelChannel(self.socket_path, kernel_id_of(kernel_id))
        await channel.open()
        return channel


async def connect_channels(
    socket_path: SandboxSocket,
    kernel_id: str,
    max_queue: int,
    subprotocols: list[Subprotocol] | None = None,
) -> ClientConnection:
    """The kernel's websocket, through the checked socket; KernelGoneError if there is none."""
    try:
        with socket_path.connect_path() as checked:
            return await unix_connect(
                checked,
                f"ws://sandbox/api/kernels/{kernel_id}/channels",
                max_size=MAX_MESSAGE_BYTES,
                max_queue=max_queue,
                compression=None,
                ping_interval=None,
                open_timeout=KERNEL_START_TIMEOUT,
                subprotocols=subprotocols,
            )
    except InvalidStatus as exc:
        failed = KernelGoneError if exc.response.status_code == 404 else KernelError
        raise failed(f"cannot connect to kernel {kernel_id}: {exc}") from exc
    except (OSError, WebSocketException, TimeoutError) as exc:
        raise KernelError(f"cannot connect to kernel {kernel_id}: {exc}") from exc


class ChannelClosed(Exception):
    """Put in listeners' queues when the websocket to the kernel closes. ``too_big``: because
    the kernel sent a message larger than MAX_MESSAGE_BYTES (the kernel itself goes on)."""

    def __init__(self, too_big: bool = False) -> None:
        super().__init__("message too big" if too_big else "closed")
        self.too_big = too_big


class Inbox(asyncio.Queue[dict[str, Any] | ChannelClosed]):
    """One listener's messages. The reader waits while more than MAX_INBOX_BYTES of them are
    unread (a slow client holds the kernel's output back instead of filling the host's
    memory), unless the listener is gone."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.abandoned = False
        self._sizes: collections.deque[int] = collections.deque()
        self._next_size = 0
        self._room = asyncio.Event()
        self._room.set()

    async def put_sized(self, msg: dict[str, Any], size: int) -> None:
        while self.bytes and self.bytes + size > MAX_INBOX_BYTES and not self.abandoned:
            self._room.clear()
            await self._room.wait()
        self._next_size = size
        self.put_nowait(msg)

    def abandon(self) -> None:
        self.abandoned = True
        self._room.set()

    def _put(self, item: dict[str, Any] | ChannelClosed) -> None:
        self._sizes.append(self._next_size)
        self.bytes += self._next_size
        self._next_size = 0
        super()._put(item)

    def _get(self) -> dict[str, Any] | ChannelClosed:
        item: dict[str, Any] | ChannelClosed = super()._get()
        self.bytes -= self._sizes.popleft()
        self._room.set()
        return item


class KernelChannel:
    """One websocket to a kernel; messages are routed to listeners by their parent msg_id."""

    def __init__(self, socket_path: SandboxSocket, kernel_id: str) -> None:
        self.socket_path = socket_path
        self.kernel_id = kernel_id_of(kernel_id)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listeners: dict[str, Inbox] = {}
        self._closed: ChannelClosed | None = None
        self._binary = False

    @property
    def is_open(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def open(self) -> None:
        # The binary protocol if the gateway speaks it (it passes the kernel's parts through);
        # the JSON one of older gateways otherwise.
        self._ws = await connect_channels(
            self.socket_path, self.kernel_id, MAX_QUEUED_FRAMES, [Subprotocol(messages.WS_V1)]
        )
        self._binary = self._ws.subprotocol == messages.WS_V1
        self._reader = asyncio.create_task(self._read(self._ws))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def listen(self, msg_id: str) -> asyncio.Queue[dict[str, Any] | ChannelClosed]:
        queue = Inbox()
        previous = self._listeners.pop(msg_id, None)
        if previous is not None:
            previous.abandon()
        if self._closed is not None:
            queue.put_nowait(self._closed)  # nothing more will come
        else:
            self._listeners[msg_id] = queue
        return queue

    def unlisten(self, msg_id: str) -> None:
        queue = self._listeners.pop(msg_id, None)
        if queue is not None:
            queue.abandon()

    async def send(self, msg: dict[str, Any]) -> None:
        if self._ws is None or not self.is_open:
            raise KernelError(f"channel to kernel {self.kernel_id} is closed")
        try:
            await self._ws.send(messages.encode_v1(msg) if self._binary else messages.encode(msg))
        except WebSocketException as exc:
            raise KernelError(f"channel to kernel {self.kernel_id} closed: {exc}") from exc

    async def _read(self, ws: ClientConnection) -> None:
        closed = ChannelClosed()
        try:
            async for raw in ws:
                try:
                    msg = messages.decode_v1(raw) if isinstance(raw, bytes) else json.loads(raw)
                    parent = msg.get("parent_header") or {}
                    msg_type = msg["header"]["msg_type"]
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                queue = (
                    self._listeners.get(parent.get("msg_id", ""))
                    if isinstance(parent, dict)
                    else None
                )
                if queue is not None:
                    await queue.put_sized(msg, len(raw))
                elif msg_type == "status" and _state(msg) in (
                    "restarting",
                    "dead",
                    "autorestarting",
                ):
                    # The gateway's restart notice has no parent: everyone waiting must know.
                    for listener in list(self._listeners.values()):
                        listener.put_nowait(msg)
        except WebSocketException as exc:
            log.debug("kernel %s channel closed: %s", self.kernel_id, exc)
            sent = exc.sent if isinstance(exc, ConnectionClosed) else None
            if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
                closed = ChannelClosed(too_big=True)
        finally:
            self._closed = closed
            for listener in list(self._listeners.values()):
                listener.put_nowait(closed)


def _state(msg: dict[str, Any]) -> str:
    content = msg.get("content")
    return str(content.get("execution_state", "")) if isinstance(content, dict) else ""
