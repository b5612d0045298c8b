"""Commands of one sandbox: processes started, followed, fed and signalled through its agent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from interpreter.core.envs import checked_envs
from interpreter.core.errors import GatewayError, InvalidRequestError
from interpreter.service.agent_client import AgentClient

Signal = Literal["TERM", "KILL", "INT"]
MAX_EVENT_BYTES = 1 << 20  # one event line from the agent (it sends 64 KiB chunks)
EVENT_TYPES = {"start", "stdout", "stderr", "end"}


class SandboxCommands:
    def __init__(self, agent: AgentClient) -> None:
        self.agent = agent

    async def start(self, spec: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Start a process; its events (start, stdout, stderr, end) as they come. The process
        keeps running if the caller stops reading."""
        spec = {**spec, "envs": checked_envs(spec.get("envs"))}
        lines = await self.agent.stream_lines("POST", "/processes", json=spec)
        return _events(lines)

    async def follow(self, pid: int, replay: bool = True) -> AsyncIterator[dict[str, Any]]:
        """A running (or finished) process's events: its kept output, then live."""
        lines = await self.agent.stream_lines(
            "GET", f"/processes/{pid}/stream", params={"replay": "1" if replay else "0"}
        )
        return _events(lines)

    async def list(self) -> list[dict[str, Any]]:
        return await self.agent.call("GET", "/processes")  # type: ignore[no-any-return]

    async def info(self, pid: int) -> dict[str, Any]:
        return await self.agent.call("GET", f"/processes/{pid}")  # type: ignore[no-any-return]

    async def send_stdin(self, pid: int, data: bytes) -> dict[str, Any]:
        return await self.agent.call("POST", f"/processes/{pid}/stdin", content=data)  # type: ignore[no-any-return]

    async def close_stdin(self, pid: int) -> dict[str, Any]:
        return await self.agent.call("POST", f"/processes/{pid}/close-stdin")  # type: ignore[no-any-return]

    async def kill(self, pid: int, signal: Signal = "TERM") -> dict[str, Any]:
        params = {"signal": signal}
        return await self.agent.call("POST", f"/processes/{pid}/kill", params=params)  # type: ignore[no-any-return]

    async def resize(self, pid: int, cols: int, rows: int) -> dict[str, Any]:
        params = {"cols": str(cols), "rows": str(rows)}
        return await self.agent.call("POST", f"/processes/{pid}/resize", params=params)  # type: ignore[no-any-return]


async def _events(lines: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """Validate what the agent streams: it runs inside the sandbox and is not trusted."""
    async for line in lines:
        if not line.strip():
            continue
        if len(line) > MAX_EVENT_BYTES:
            raise GatewayError("the sandbox agent sent an oversized event")
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise GatewayError("the sandbox agent sent invalid JSON") from exc
        if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
            continue
        yield _clean(event)


def _clean(event: dict[str, Any]) -> dict[str, Any]:
    kind = event["type"]
    if kind == "start":
        return {"type": "start", "pid": _int(event.get("pid"))}
    if kind == "end":
        out: dict[str, Any] = {"type": "end", "exit_code": _int(event.get("exit_code"))}
        if isinstance(event.get("error"), str):
            out["error"] = event["error"][:1000]
        if event.get("timed_out") is True:
            out["timed_out"] = True
        return out
    data = event.get("data")
    return {"type": kind, "data": data if isinstance(data, str) else ""}


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidRequestError("the sandbox agent sent a malformed event")
