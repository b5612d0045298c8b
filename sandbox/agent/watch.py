"""Watching folders with inotify (through libc: no extra package in the image).

Events: create, write, remove, rename, chmod; a recursive watch follows new sub-folders, and
reports a create for what is already inside one when its watch is armed (as E2B's fsnotify
does: `mkdir -p a/b/c`, or a file written into a folder just made, is not lost).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

from agent.files import FileError, entry, printable

_libc = ctypes.CDLL(None, use_errno=True)
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_IGNORED, IN_ISDIR, IN_Q_OVERFLOW = 0x400, 0x8000, 0x40000000, 0x4000
MASK = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
# The first matching bit names the event.
KINDS = [
    (IN_CREATE, "create"), (IN_MOVED_TO, "create"), (IN_MODIFY, "write"),
    (IN_DELETE, "remove"), (IN_MOVED_FROM, "rename"), (IN_ATTRIB, "chmod"),
]  # fmt: skip
HEADER = struct.Struct("iIII")
QUEUE_EVENTS = 1024


class Watcher:
    def __init__(self, root: str, recursive: bool, include_entry: bool = False) -> None:
        self.root, self.recursive, self.include_entry = root, recursive, include_entry
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise FileError(500, "OSError", os.strerror(ctypes.get_errno()))
        self.paths: dict[int, str] = {}
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_EVENTS)

    def add(self, folder: str) -> None:
        wd = _libc.inotify_add_watch(self.fd, folder.encode(), MASK)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), folder)
        self.paths[wd] = folder
        if self.recursive:
            for entry in os.scandir(folder):
                if entry.is_dir(follow_symlinks=False):
                    self.add(entry.path)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset < len(data):
            wd, mask, _cookie, size = HEADER.unpack_from(data, offset)
            raw = data[offset + HEADER.size : offset + HEADER.size + size].rstrip(b"\0")
            offset += HEADER.size + size
            self._handle(wd, mask, raw.decode(errors="surrogateescape"))

    def _handle(self, wd: int, mask: int, name: str) -> None:
        if mask & IN_Q_OVERFLOW:
            self.emit({"type": "overflow", "name": self.root})
            return
        folder = self.paths.get(wd)
        if folder is None or mask & IN_IGNORED:
            return
        path = os.path.join(folder, name) if name else folder
        if mask & IN_DELETE_SELF:
            self.paths.pop(wd, None)
            if folder == self.root:
                self.emit({"type": "remove", "name": path})
                self.emit(None)  # the watched folder is gone: the stream ends
            return
        kind = next((k for bit, k in KINDS if mask & bit), None)
        if kind:
            self.emit_change(kind, path)
        if self.recursive and mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
            self.follow(path)

    def follow(self, folder: str) -> None:
        """Watch a folder that appeared in a recursive watch, and everything below it, with a
        create for each entry already there (made before its watch was armed), in the order a
        walk of the tree meets them (iterative: a deep tree cannot exhaust the stack)."""
        pending: list[tuple[str, bool]] = [(folder, True)]  # (path, is a folder), next last
        while pending:
            path, is_dir = pending.pop()
            if path != folder:
                self.emit_change("create", path)
            if not is_dir:
                continue
            try:
                wd = _libc.inotify_add_watch(self.fd, path.encode(), MASK)
                if wd < 0:
                    continue
                self.paths[wd] = path
                children = sorted(os.scandir(path), key=lambda child: child.name, reverse=True)
                pending.extend((c.path, c.is_dir(follow_symlinks=False)) for c in children)
            except OSError:  # already gone again
                continue

    def emit_change(self, kind: str, path: str) -> None:
        event: dict[str, Any] = {"type": kind, "name": printable(path)}
        if self.include_entry and kind not in ("remove", "rename"):
            try:
                event["entry"] = entry(path)
            except OSError:  # already gone again
                pass
        self.emit(event)

    def emit(self, event: dict[str, Any] | None) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:  # a reader that does not keep up loses events, not memory
            pass

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.fd, self._readable)
        try:
            while (event := await self.queue.get()) is not None:
                yield event
        finally:
            loop.remove_reader(self.fd)
            os.close(self.fd)
