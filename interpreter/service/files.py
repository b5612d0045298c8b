"""Files of one sandbox: every operation runs inside it, through its agent, as the given user."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from interpreter.core.errors import FileNotFoundInSandboxError
from interpreter.core.protocol import (
    EntryInfo,
    MadeDir,
    User,
    WatchEvent,
    parse,
    parse_entries,
    parse_watch_event,
)
from interpreter.service.agent_client import AgentClient


class SandboxFiles:
    def __init__(self, agent: AgentClient) -> None:
        self.agent = agent

    async def read(self, path: str, user: User = "user") -> tuple[int, AsyncIterator[bytes]]:
        """Size and content chunks of a file (streamed: memory stays bounded)."""
        return await self.agent.download({"path": path, "user": user})

    async def write(
        self,
        path: str,
        content: AsyncIterator[bytes],
        user: User = "user",
        metadata: dict[str, str] | None = None,
    ) -> EntryInfo:
        """Write (create or replace) a file from a stream; parent folders are made. `metadata`
        is kept with the file (extended attributes) and shown in its info."""
        params = {"path": path, "user": user}
        if metadata:
            params["metadata"] = json.dumps(metadata)
        return parse(EntryInfo, await self.agent.upload(params, content))

    async def info(self, path: str, user: User = "user") -> EntryInfo:
        params = {"path": path, "user": user}
        return parse(EntryInfo, await self.agent.call("GET", "/files/info", params=params))

    async def exists(self, path: str, user: User = "user") -> bool:
        try:
            await self.info(path, user)
        except FileNotFoundInSandboxError:
            return False
        return True

    async def list(self, path: str, depth: int = 1, user: User = "user") -> list[EntryInfo]:
        params = {"path": path, "depth": str(depth), "user": user}
        return parse_entries(await self.agent.call("GET", "/files/list", params=params))

    async def make_dir(self, path: str, user: User = "user") -> bool:
        """Make a folder and its parents; False if it already existed."""
        params = {"path": path, "user": user}
        return parse(MadeDir, await self.agent.call("POST", "/files/mkdir", params=params)).created

    async def remove(self, path: str, user: User = "user") -> None:
        await self.agent.call("DELETE", "/files", params={"path": path, "user": user})

    async def watch(
        self, path: str, recursive: bool = False, user: User = "user", include_entry: bool = False
    ) -> AsyncIterator[WatchEvent]:
        """Events in a folder as they happen: `start` once armed, then create / write /
        remove / rename / chmod (and `overflow` if events were lost); with `include_entry`,
        create / write / chmod events carry the entry's info."""
        params = {
            "path": path,
            "recursive": "1" if recursive else "0",
            "user": user,
            "include_entry": "1" if include_entry else "0",
        }
        lines = await self.agent.stream_lines("GET", "/files/watch", params=params)
        return _watch_events(lines)

    async def rename(self, source: str, destination: str, user: User = "user") -> EntryInfo:
        params = {"source": source, "destination": destination, "user": user}
        return parse(EntryInfo, await self.agent.call("POST", "/files/rename", params=params))


async def _watch_events(lines: AsyncIterator[bytes]) -> AsyncIterator[WatchEvent]:
    # The agent runs inside the sandbox: every event it sends is checked.
    async for line in lines:
        if line.strip() and (event := parse_watch_event(line)) is not None:
            yield event
