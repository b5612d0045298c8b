"""Volumes: named persistent storage, mounted into sandboxes at create.

A volume is its own file system of ``size_mb`` (``runtime/volumes.py``): created, listed,
destroyed here; ``volume_mounts={path: volume}`` at a sandbox's create binds it read-write at
``path``, shared with every other sandbox that mounts it. It outlives its sandboxes, the front
end (records in SQLite, the image on disk) and pauses (a paused sandbox's mounts come back at
its resume, from its checkpoint too). A volume with sandboxes (running or paused) is not
destroyed (409 naming them). Its content is also read and written from outside, by E2B's volume
content API (``content``: ``volume_files``, which follows no link a sandbox planted).

Sandboxes with volumes boot cold (no warm pool, no template snapshot: a restored or pooled tree
cannot be given a mount it did not have); their snapshots and forks are refused (409).
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterable, Iterator

from interpreter.core.config import Settings
from interpreter.core.errors import ConflictError, InvalidRequestError, VolumeNotFoundError
from interpreter.core.models import SandboxRecord, VolumeRecord
from interpreter.core.store import Store
from interpreter.runtime.base import Runtime, VolumeMount
from interpreter.service.volume_files import VolumeEntry, VolumeFiles

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9._-]{1,63}$")
VOLUME_ID = re.compile(r"^vol-[0-9a-f]{16}$")
MAX_MOUNTS = 16
MIN_SIZE_MB, MAX_SIZE_MB = 16, 1 << 20
# One name of a mount path; no ':' (nsjail's src:dst) or ']' (CRIU's mnt[path]).
PATH_NAME = re.compile(r"^[A-Za-z0-9._@+=,~ -]{1,255}$")
# The sandbox's own mounts: a volume neither covers them nor goes inside them.
SYSTEM_MOUNTS = ("/proc", "/dev", "/run/sandbox")


class Volumes:
    def __init__(self, settings: Settings, store: Store, runtime: Runtime) -> None:
        self.settings, self.store, self.runtime = settings, store, runtime
        self._lock = asyncio.Lock()  # creates and destroys, one at a time
        self._held: collections.Counter[str] = collections.Counter()  # by creates under way

    def get(self, ref: str) -> VolumeRecord:
        volume = self.store.get_volume(ref)
        if volume is None:
            raise VolumeNotFoundError(f"volume {ref!r} not found")
        return volume

    def list(self) -> builtins.list[VolumeRecord]:
        return self.store.list_volumes()

    async def create(self, name: str, size_mb: int | None = None) -> VolumeRecord:
        if not NAME.match(name) or name in (".", ".."):
            raise InvalidRequestError(
                f"volume name {name!r} must be 1-63 characters of a-z, 0-9, '-', '_', '.'"
            )
        if VOLUME_ID.match(name):  # a lookup takes an id or a name: one may not pass for the other
            raise InvalidRequestError(f"volume name {name!r} has the form of a volume id")
        size = size_mb or self.settings.default_volume_mb
        if not MIN_SIZE_MB <= size <= MAX_SIZE_MB:
            raise InvalidRequestError(f"size_mb must be {MIN_SIZE_MB} to {MAX_SIZE_MB}")
        volume = VolumeRecord(id=f"vol-{secrets.token_hex(8)}", name=name, size_mb=size)
        async with self._lock:
            if self.store.get_volume(name) is not None or not self.store.add_volume(volume):
                raise ConflictError(f"a volume named {name!r} exists already")
            try:
                await asyncio.to_thread(self.runtime.create_volume, volume.id, size)
            except BaseException:
                self.store.delete_volume(volume.id)
                raise
        log.info("volume %s (%s, %d MiB) created", volume.id, name, size)
        return volume

    async def delete(self, ref: str) -> None:
        """Destroy a volume and its content (409 while sandboxes have it mounted)."""
        async with self._lock:
            volume = self.get(ref)
            users = [s.id for s in self.store.list_sandboxes() if volume.id in _ids(s)]
            users += ["a sandbox starting"] * min(1, self._held[volume.id])
            if users:
                raise ConflictError(
                    f"volume {volume.name!r} is mounted by sandboxes ({', '.join(users[:10])}): "
                    "kill them first"
                )
            self.store.delete_volume(volume.id)
            await asyncio.to_thread(self.runtime.delete_volume, volume.id)
        log.info("volume %s (%s) destroyed", volume.id, volume.name)

    async def usage(self, ref: str) -> tuple[int, int]:
        """Bytes used and the size."""
        return await asyncio.to_thread(self.runtime.volume_usage, self.get(ref).id)

    @contextlib.contextmanager
    def held(self, volume_ids: Iterable[str]) -> Iterator[None]:
        """While a create that mounts them runs: they are in use (delete says so)."""
        ids = list(volume_ids)
        self._held.update(ids)
        try:
            yield
        finally:
            self._held.subtract(ids)

    def resolve_mounts(self, asked: dict[str, str]) -> dict[str, str]:
        """A create's ``volume_mounts`` (path → volume name or id), checked: path → id."""
        if len(asked) > MAX_MOUNTS:
            raise InvalidRequestError(f"at most {MAX_MOUNTS} volume mounts, got {len(asked)}")
        mounts = {checked_path(path): self.get(ref).id for path, ref in asked.items()}
        paths = sorted(mounts)
        for i, path in enumerate(paths):
            for other in (*paths[i + 1 :], *SYSTEM_MOUNTS):
                if _overlap(path, other):
                    raise InvalidRequestError(
                        f"volume mount path {path!r} overlaps {other!r}: mounts may not nest"
                    )
        return mounts

    def content(self, ref: str) -> VolumeContent:
        return VolumeContent(self.runtime, self.get(ref))


class VolumeContent:
    """A volume's files from outside (E2B's content API), each call in a thread."""

    def __init__(self, runtime: Runtime, volume: VolumeRecord) -> None:
        self.runtime, self.volume = runtime, volume

    async def _files(self) -> VolumeFiles:
        return VolumeFiles(await asyncio.to_thread(self.runtime.volume_root, self.volume.id))

    async def info(self, path: str) -> VolumeEntry:
        return await asyncio.to_thread((await self._files()).info, path)

    async def list(self, path: str, depth: int = 1) -> builtins.list[VolumeEntry]:
        return await asyncio.to_thread((await self._files()).list, path, depth)

    async def make_dir(
        self, path: str, uid: int | None, gid: int | None, mode: int | None, force: bool
    ) -> VolumeEntry:
        files = await self._files()
        return await asyncio.to_thread(files.make_dir, path, uid, gid, mode, force)

    async def update(
        self, path: str, uid: int | None, gid: int | None, mode: int | None
    ) -> VolumeEntry:
        return await asyncio.to_thread((await self._files()).update, path, uid, gid, mode)

    async def remove(self, path: str) -> None:
        await asyncio.to_thread((await self._files()).remove, path)

    async def write(
        self,
        path: str,
        body: AsyncIterator[bytes],
        uid: int | None,
        gid: int | None,
        mode: int | None,
        force: bool,
    ) -> VolumeEntry:
        """Stream ``body`` into the file (memory stays bounded: one chunk at a time)."""
        files, loop = await self._files(), asyncio.get_running_loop()

        async def next_chunk() -> bytes:
            return await anext(body)

        def chunks() -> Iterator[bytes]:  # in the writing thread, each chunk from the loop
            while True:
                try:
                    yield asyncio.run_coroutine_threadsafe(next_chunk(), loop).result()
                except StopAsyncIteration:
                    return

        return await asyncio.to_thread(files.write, path, chunks(), uid, gid, mode, force)

    async def read(self, path: str) -> tuple[int, AsyncIterator[bytes]]:
        """The file's size and its bytes (read in a thread chunk by chunk)."""
        size, chunks = await asyncio.to_thread((await self._files()).read, path)

        async def stream() -> AsyncIterator[bytes]:
            try:
                while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                    yield chunk
            finally:
                await asyncio.to_thread(chunks.close)

        return size, stream()


def checked_path(path: str) -> str:
    """A mount path: absolute, plain names (no '.', '..', '//'), not the root."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidRequestError(f"volume mount path {path!r} is not absolute")
    trimmed = path.rstrip("/")
    names = trimmed.split("/")[1:]
    if not names or len(trimmed) > 1024 or not all(PATH_NAME.match(n) for n in names):
        raise InvalidRequestError(
            f"volume mount path {path!r} must be an absolute path of plain names (letters, "
            "digits, ' ._@+=,~-'), not '/'"
        )
    if any(n in (".", "..") for n in names):
        raise InvalidRequestError(f"volume mount path {path!r} has '.' or '..'")
    return trimmed


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _ids(record: SandboxRecord) -> set[str]:
    return set(record.volume_mounts.values())


def mounts_of(record: SandboxRecord) -> tuple[VolumeMount, ...]:
    """What the runtime binds into the sandbox."""
    return tuple(VolumeMount(p, v) for p, v in sorted(record.volume_mounts.items()))
