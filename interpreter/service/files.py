"""Files of one sandbox: every operation runs inside it, through its agent, as the given user."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from interpreter.core.errors import FileNotFoundInSandboxError, GatewayError
from interpreter.service.agent_client import AgentClient

User = Literal["user", "root"]


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
    ) -> dict[str, Any]:
        """Write (create or replace) a file from a stream; parent folders are made. `metadata`
        is kept with the file (extended attributes) and shown in its info."""
        params = {"path": path, "user": user}
        if metadata:
            params["metadata"] = json.dumps(metadata)
        return await self.agent.upload(params, content)  # type: ignore[no-any-return]

    async def info(self, path: str, user: User = "user") -> dict[str, Any]:
        return await self.agent.call("GET", "/files/info", params={"path": path, "user": user})  # type: ignore[no-any-return]

    async def exists(self, path: str, user: User = "user") -> bool:
        try:
            await self.info(path, user)
        except FileNotFoundInSandboxError:
            return False
        return True

    async def list(self, path: str, depth: int = 1, user: User = "user") -> list[dict[str, Any]]:
        params = {"path": path, "depth": str(depth), "user": user}
        return await self.agent.call("GET", "/files/list", params=params)  # type: ignore[no-any-return]

    async def make_dir(self, path: str, user: User = "user") -> bool:
        """Make a folder and its parents; False if it already existed."""
        result = await self.agent.call("POST", "/files/mkdir", params={"path": path, "user": user})
        return bool(result["created"])

    async def remove(self, path: str, user: User = "user") -> None:
        await self.agent.call("DELETE", "/files", params={"path": path, "user": user})

    async def watch(
        self, path: str, recursive: bool = False, user: User = "user", include_entry: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
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

    async def rename(self, source: str, destination: str, user: User = "user") -> dict[str, Any]:
        params = {"source": source, "destination": destination, "user": user}
        return await self.agent.call("POST", "/files/rename", params=params)  # type: ignore[no-any-return]


WATCH_EVENTS = {"start", "create", "write", "remove", "rename", "chmod", "overflow"}


async def _watch_events(lines: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    # The agent runs inside the sandbox: check every event it sends.
    async for line in lines:
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise GatewayError("the sandbox agent sent invalid JSON") from exc
        if isinstance(event, dict) and event.get("type") in WATCH_EVENTS:
            out: dict[str, Any] = {"type": event["type"], "name": str(event.get("name", ""))[:4096]}
            if isinstance(event.get("entry"), dict):
                out["entry"] = event["entry"]
            yield out
