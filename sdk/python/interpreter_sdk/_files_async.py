"""AsyncFiles: files inside a sandbox (``sandbox.files``), the asyncio twin of Files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx

from interpreter_sdk import _base, _errors
from interpreter_sdk._base import Upload
from interpreter_sdk._errors import NotFoundError
from interpreter_sdk._models import EntryInfo, FilesystemEvent

User = Literal["user", "root"]


class AsyncWatchHandle:
    """A folder being watched: iterate ``events()``; ``stop()`` ends the watch."""

    def __init__(self, response: httpx.Response, lines: AsyncIterator[str]) -> None:
        self._response = response
        self._lines = lines

    async def events(self) -> AsyncIterator[FilesystemEvent]:
        """Events as they happen (ends when stopped or when the folder is removed)."""
        try:
            async for line in self._lines:
                if (event := _base.filesystem_event(line)) is not None:
                    yield event
        except httpx.HTTPError as exc:
            if not self._response.is_closed:
                raise _base.map_transport_error(exc, None) from exc

    async def stop(self) -> None:
        """End the watch."""
        await self._response.aclose()


class AsyncFiles:
    """Paths are absolute or relative to /home/user; ``user`` is who acts inside the sandbox."""

    def __init__(self, http: httpx.AsyncClient, sandbox_id: str) -> None:
        self._http = http
        self._url = f"/sandboxes/{sandbox_id}/files"

    async def read(self, path: str, user: User = "user") -> str:
        """A file's content as text (UTF-8; undecodable bytes become U+FFFD)."""
        return (await self.read_bytes(path, user)).decode(errors="replace")

    async def read_bytes(self, path: str, user: User = "user") -> bytes:
        """A file's content as bytes."""
        parts = [chunk async for chunk in self.read_stream(path, user)]
        return b"".join(parts)

    async def read_stream(self, path: str, user: User = "user") -> AsyncIterator[bytes]:
        """A file's content in chunks, for large files (memory stays bounded)."""
        params = {"path": path, "user": user}
        try:
            async with self._http.stream("GET", self._url, params=params, timeout=None) as r:
                if not r.is_success:
                    await r.aread()
                    _base.check(r)
                async for chunk in r.aiter_bytes():
                    yield chunk
        except httpx.HTTPError as exc:
            raise _base.map_transport_error(exc, None) from exc

    async def write(self, path: str, data: Upload, user: User = "user") -> EntryInfo:
        """Create or replace a file; ``data`` is text, bytes or a binary file object (streamed).
        Parent folders are made."""
        content = _base.as_async(_base.upload_chunks(data))
        params = {"path": path, "user": user}
        result = await self._call("PUT", "", params=params, content=content, timeout=None)
        return _base.entry_info(result)

    async def write_files(
        self, files: list[tuple[str, Upload]], user: User = "user"
    ) -> list[EntryInfo]:
        """Write several files: a list of (path, data)."""
        return [await self.write(path, data, user) for path, data in files]

    async def list(self, path: str, depth: int = 1, user: User = "user") -> list[EntryInfo]:
        """A folder's entries, ``depth`` levels deep."""
        params = {"path": path, "depth": depth, "user": user}
        return [_base.entry_info(e) for e in await self._call("GET", "/list", params=params)]

    async def get_info(self, path: str, user: User = "user") -> EntryInfo:
        """Type, size, mode, permissions, owner, group, modified time, symlink target."""
        params = {"path": path, "user": user}
        return _base.entry_info(await self._call("GET", "/info", params=params))

    async def exists(self, path: str, user: User = "user") -> bool:
        """Whether the path exists."""
        try:
            await self.get_info(path, user)
        except NotFoundError:
            return False
        return True

    async def make_dir(self, path: str, user: User = "user") -> bool:
        """Make a folder with its parents; False if it already existed."""
        params = {"path": path, "user": user}
        return bool((await self._call("POST", "/mkdir", params=params))["created"])

    async def remove(self, path: str, user: User = "user") -> None:
        """Remove a file or a whole folder."""
        await self._call("DELETE", "", params={"path": path, "user": user})

    async def rename(self, old_path: str, new_path: str, user: User = "user") -> EntryInfo:
        """Move or rename; returns the entry at its new path."""
        params = {"source": old_path, "destination": new_path, "user": user}
        return _base.entry_info(await self._call("POST", "/rename", params=params))

    async def watch_dir(
        self, path: str, recursive: bool = False, user: User = "user"
    ) -> AsyncWatchHandle:
        """Watch a folder; returns once the watch is armed."""
        params: dict[str, str | bool] = {"path": path, "recursive": recursive, "user": user}
        request = self._http.build_request("GET", self._url + "/watch", params=params, timeout=None)
        try:
            response = await self._http.send(request, stream=True)
            if not response.is_success:
                await response.aread()
                _base.check(response)
            lines = response.aiter_lines()
            first = await anext(lines)  # the agent's `start`: the watch is armed
            started = _base.filesystem_event(first)
            if started is None or started.type != "start":
                raise _errors.ConnectionError("the watch did not start")
        except httpx.HTTPError as exc:
            raise _base.map_transport_error(exc, None) from exc
        return AsyncWatchHandle(response, lines)

    async def download_url(self, path: str, expires_in: int = 300, user: User = "user") -> str:
        """A URL that downloads this file (GET) without the API key, valid ``expires_in`` s."""
        return await self._signed_url(path, "read", expires_in, user)

    async def upload_url(self, path: str, expires_in: int = 300, user: User = "user") -> str:
        """A URL that uploads this file (PUT the content) without the API key."""
        return await self._signed_url(path, "write", expires_in, user)

    async def _signed_url(self, path: str, operation: str, expires_in: int, user: str) -> str:
        params = {"path": path, "operation": operation, "expires_in": expires_in, "user": user}
        return str((await self._call("POST", "/url", params=params))["url"])

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, self._url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise _base.map_transport_error(exc, None) from exc
        return _base.check(response)
