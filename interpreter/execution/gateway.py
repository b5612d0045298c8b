"""The host side of a sandbox's Jupyter Kernel Gateway: REST and kernel websockets over the
unix socket in the sandbox's run folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import WebSocketException

from interpreter.core.errors import GatewayError, KernelError
from interpreter.execution import messages

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a kernel message larger than this closes the channel
KERNEL_START_TIMEOUT = 30.0  # the gateway answers the websocket once the kernel answered


class GatewayClient:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        # AF_UNIX paths are limited to 108 bytes and a state folder can be deep: connect
        # through a descriptor of the run folder instead.
        self._dir_fd = os.open(socket_path.parent, os.O_PATH | os.O_DIRECTORY)
        self.connect_path = f"/proc/self/fd/{self._dir_fd}/{socket_path.name}"
        self._http = httpx.AsyncClient(
            # Plain HTTP on a unix socket: no TLS, so no CA bundle to load (that costs 20-900 ms
            # per client, on every create, re-attach and resume).
            transport=httpx.AsyncHTTPTransport(uds=self.connect_path, verify=False),
            base_url="http://sandbox",
            timeout=httpx.Timeout(30.0, connect=5.0),
        )

    async def close(self) -> None:
        await self._http.aclose()
        os.close(self._dir_fd)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayError(f"sandbox gateway unreachable: {exc}") from exc
        if response.status_code == 404:
            raise KernelError(f"kernel not found in the sandbox: {path}")
        if response.is_error:
            raise GatewayError(
                f"gateway {method} {path}: {response.status_code} {response.text[:500]}"
            )
        return response.json() if response.content else None

    async def ready(self) -> bool:
        try:
            response = await self._http.get("/api", timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def start_kernel(self, name: str) -> str:
        kernel = await self._call("POST", "/api/kernels", json={"name": name})
        return str(kernel["id"])

    async def list_kernels(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "/api/kernels"))

    async def interrupt_kernel(self, kernel_id: str) -> None:
        await self._call("POST", f"/api/kernels/{kernel_id}/interrupt")

    async def restart_kernel(self, kernel_id: str) -> None:
        await self._call("POST", f"/api/kernels/{kernel_id}/restart", timeout=60.0)

    async def delete_kernel(self, kernel_id: str) -> None:
        await self._call("DELETE", f"/api/kernels/{kernel_id}")

    async def connect(self, kernel_id: str) -> KernelChannel:
        channel = KernelChannel(self.connect_path, kernel_id)
        await channel.open()
        return channel


class ChannelClosed(Exception):
    """Put in listeners' queues when the websocket to the kernel closes."""


class KernelChannel:
    """One websocket to a kernel; messages are routed to listeners by their parent msg_id."""

    def __init__(self, socket_path: str, kernel_id: str) -> None:
        self.socket_path = socket_path
        self.kernel_id = kernel_id
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listeners: dict[str, asyncio.Queue[dict[str, Any] | ChannelClosed]] = {}

    @property
    def is_open(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def open(self) -> None:
        try:
            self._ws = await unix_connect(
                self.socket_path,
                f"ws://sandbox/api/kernels/{self.kernel_id}/channels",
                max_size=MAX_MESSAGE_BYTES,
                compression=None,
                ping_interval=None,
                open_timeout=KERNEL_START_TIMEOUT,
            )
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise KernelError(f"cannot connect to kernel {self.kernel_id}: {exc}") from exc
        self._reader = asyncio.create_task(self._read(self._ws))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def listen(self, msg_id: str) -> asyncio.Queue[dict[str, Any] | ChannelClosed]:
        queue: asyncio.Queue[dict[str, Any] | ChannelClosed] = asyncio.Queue()
        self._listeners[msg_id] = queue
        return queue

    def unlisten(self, msg_id: str) -> None:
        self._listeners.pop(msg_id, None)

    async def send(self, msg: dict[str, Any]) -> None:
        if self._ws is None or not self.is_open:
            raise KernelError(f"channel to kernel {self.kernel_id} is closed")
        try:
            await self._ws.send(messages.encode(msg))
        except WebSocketException as exc:
            raise KernelError(f"channel to kernel {self.kernel_id} closed: {exc}") from exc

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
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
                    queue.put_nowait(msg)
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
        finally:
            for listener in list(self._listeners.values()):
                listener.put_nowait(ChannelClosed())


def _state(msg: dict[str, Any]) -> str:
    content = msg.get("content")
    return str(content.get("execution_state", "")) if isinstance(content, dict) else ""
