"""``filesystem.Filesystem``: envd's file service, translated onto ``SandboxFiles``.

Watching comes in two shapes: the ``WatchDir`` stream (async Python, JS) and polling
(``CreateWatcher`` / ``GetWatcherEvents`` / ``RemoveWatcher``, sync Python). A polling watcher
is the same service watch, read by a task into a bounded buffer until fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from interpreter.api.e2b.envd import access, connect
from interpreter.api.e2b.envd.connect import ConnectError, Message, field
from interpreter.api.e2b.envd.messages import entry_info, filesystem_event
from interpreter.core.errors import FileNotFoundInSandboxError
from interpreter.core.protocol import WatchEvent
from interpreter.service.files import SandboxFiles

KEEPALIVE: Message = {"keepalive": {}}
MAX_DEPTH = 64
WATCHER_EVENTS = 10_000  # kept per polling watcher between two fetches; later ones are dropped
WATCHER_IDLE = 600.0  # seconds without a fetch before a polling watcher is dropped
# A fetch first waits for the events in flight (sandbox -> agent stream -> here) to land, until
# none has come for SETTLE_QUIET seconds (at most SETTLE_MAX): a fetch right after a write sees
# its events, as envd's in-process watcher would.
SETTLE_QUIET = 0.05
SETTLE_MAX = 1.0


async def _files(request: Request) -> tuple[SandboxFiles, access.User]:
    sandbox_id = access.live_sandbox_id(request)
    access.check_token(request, sandbox_id)
    user = access.user_of(request)
    return await access.manager_of(request).files(sandbox_id), user


def _path(message: Message, name: str = "path") -> str:
    value = field(message, name)
    if not isinstance(value, str) or not value:
        raise ConnectError("invalid_argument", f"{name} is required")
    return value


async def stat(request: Request, message: Message) -> Message:
    files, user = await _files(request)
    return {"entry": entry_info(await files.info(_path(message), user))}


async def make_dir(request: Request, message: Message) -> Message:
    files, user = await _files(request)
    path = _path(message)
    if not await files.make_dir(path, user):
        raise ConnectError("already_exists", f"directory {path!r} already exists")
    return {"entry": entry_info(await files.info(path, user))}


async def move(request: Request, message: Message) -> Message:
    files, user = await _files(request)
    entry = await files.rename(_path(message, "source"), _path(message, "destination"), user)
    return {"entry": entry_info(entry)}


async def list_dir(request: Request, message: Message) -> Message:
    files, user = await _files(request)
    depth = field(message, "depth") or 1
    if not isinstance(depth, int) or not 0 < depth <= MAX_DEPTH:
        raise ConnectError("invalid_argument", f"depth must be within 1..{MAX_DEPTH}")
    entries = await files.list(_path(message), depth, user)
    return {"entries": [entry_info(entry) for entry in entries]}


async def remove(request: Request, message: Message) -> Message:
    """envd removes with Go's ``os.RemoveAll``: a path that is not there is no error."""
    files, user = await _files(request)
    with contextlib.suppress(FileNotFoundInSandboxError):
        await files.remove(_path(message), user)
    return {}


async def _open_watch(request: Request, message: Message) -> AsyncIterator[Message]:
    """A watch armed in the sandbox (errors such as not_found raise here), as
    ``FilesystemEvent``s named relative to the watched folder."""
    files, user = await _files(request)
    events = await files.watch(
        _path(message),
        recursive=field(message, "recursive") is True,
        user=user,
        include_entry=field(message, "include_entry") is True,
    )
    first = await anext(events, None)
    if first is None or first.type != "start":
        raise ConnectError("unavailable", "the sandbox did not start the watch")
    return _filesystem_events(events, root=first.name)


async def _filesystem_events(
    events: AsyncIterator[WatchEvent], root: str
) -> AsyncIterator[Message]:
    async for event in events:
        if (message := filesystem_event(event, root)) is not None:
            yield message  # overflow has no word in envd's vocabulary: left out


async def watch_dir(request: Request) -> Response:
    try:
        message = await connect.single_stream_request(request)
        events = await _open_watch(request, message)
        timeout = connect.timeout_of(request)
    except Exception as exc:  # noqa: BLE001 - typed into the end-of-stream message
        return connect.stream_error(exc)

    async def messages() -> AsyncIterator[Message]:
        yield {"start": {}}
        async for event in events:
            yield {"filesystem": event}

    deadline = time.monotonic() + timeout if timeout is not None else None
    return connect.server_stream(messages(), KEEPALIVE, connect.keepalive_of(request), deadline)


@dataclass
class PollingWatcher:
    sandbox_id: str
    task: asyncio.Task[None] | None = None
    events: list[Message] = dataclass_field(default_factory=list)
    error: ConnectError | None = None
    fetched_at: float = dataclass_field(default_factory=time.monotonic)
    arrived: asyncio.Event = dataclass_field(default_factory=asyncio.Event)

    async def collect(self, events: AsyncIterator[Message]) -> None:
        try:
            async for event in events:
                self.arrived.set()
                if len(self.events) < WATCHER_EVENTS:
                    self.events.append(event)
        except Exception as exc:  # noqa: BLE001 - reported on the next fetch
            self.error = connect.connect_error(exc)

    async def settle(self) -> None:
        """Wait until the stream has been quiet for SETTLE_QUIET seconds (or SETTLE_MAX)."""
        deadline = time.monotonic() + SETTLE_MAX
        while self.task is not None and not self.task.done():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(SETTLE_QUIET, left))
            except TimeoutError:
                return


class PollingWatchers:
    """The polling watchers of every sandbox, by id (ids are random: unguessable)."""

    def __init__(self) -> None:
        self.watchers: dict[str, PollingWatcher] = {}

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for watcher_id, watcher in list(self.watchers.items()):
            if now - watcher.fetched_at > WATCHER_IDLE:
                self._remove(watcher_id)

    def _remove(self, watcher_id: str) -> None:
        watcher = self.watchers.pop(watcher_id, None)
        if watcher is not None and watcher.task is not None:
            watcher.task.cancel()

    def _get(self, request: Request, message: Message) -> tuple[str, PollingWatcher]:
        sandbox_id = access.live_sandbox_id(request)
        access.check_token(request, sandbox_id)
        watcher_id = field(message, "watcher_id")
        watcher = self.watchers.get(watcher_id) if isinstance(watcher_id, str) else None
        if watcher is None or watcher.sandbox_id != sandbox_id:
            raise ConnectError("not_found", f"watcher {watcher_id!r} not found")
        return str(watcher_id), watcher

    async def create(self, request: Request, message: Message) -> Message:
        self._drop_idle()
        events = await _open_watch(request, message)
        watcher = PollingWatcher(access.live_sandbox_id(request))
        watcher.task = asyncio.create_task(watcher.collect(events))
        watcher_id = secrets.token_hex(16)
        self.watchers[watcher_id] = watcher
        return {"watcherId": watcher_id}

    async def get_events(self, request: Request, message: Message) -> Message:
        _, watcher = self._get(request, message)
        await watcher.settle()
        watcher.fetched_at = time.monotonic()
        events, watcher.events = watcher.events, []
        if not events and watcher.error is not None:
            raise watcher.error
        return {"events": events}

    async def remove(self, request: Request, message: Message) -> Message:
        watcher_id, watcher = self._get(request, message)
        self._remove(watcher_id)
        if watcher.task is not None:
            with contextlib.suppress(BaseException):
                await watcher.task
        return {}


def unary_methods(watchers: PollingWatchers) -> dict[str, Any]:
    return {
        "Stat": stat,
        "MakeDir": make_dir,
        "Move": move,
        "ListDir": list_dir,
        "Remove": remove,
        "CreateWatcher": watchers.create,
        "GetWatcherEvents": watchers.get_events,
        "RemoveWatcher": watchers.remove,
    }


STREAMS = {"WatchDir": watch_dir}
