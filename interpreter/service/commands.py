"""Commands of one sandbox: processes started, followed, fed and signalled through its agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from interpreter.core.envs import checked_envs
from interpreter.core.errors import GatewayError
from interpreter.core.protocol import (
    CommandSpec,
    ProcessEnd,
    ProcessInfo,
    ProcessOutput,
    ProcessStart,
    parse,
    parse_process_event,
    parse_processes,
)
from interpreter.service.agent_client import AgentClient

Signal = Literal["TERM", "KILL", "INT"]
MAX_EVENT_BYTES = 1 << 20  # one event line from the agent (it sends 64 KiB chunks)
ProcessEvent = ProcessStart | ProcessOutput | ProcessEnd


class SandboxCommands:
    def __init__(self, agent: AgentClient) -> None:
        self.agent = agent

    async def start(self, spec: CommandSpec) -> AsyncIterator[ProcessEvent]:
        """Start a process; its events (start, stdout, stderr, end) as they come. The process
        keeps running if the caller stops reading."""
        checked_envs(spec.envs)
        lines = await self.agent.stream_lines("POST", "/processes", json=spec.wire())
        return _events(lines)

    async def follow(self, pid: int, replay: bool = True) -> AsyncIterator[ProcessEvent]:
        """A running (or finished) process's events: its kept output, then live."""
        lines = await self.agent.stream_lines(
            "GET", f"/processes/{pid}/stream", params={"replay": "1" if replay else "0"}
        )
        return _events(lines)

    async def list(self) -> list[ProcessInfo]:
        return parse_processes(await self.agent.call("GET", "/processes"))

    async def info(self, pid: int) -> ProcessInfo:
        return await self._info("GET", f"/processes/{pid}")

    async def send_stdin(self, pid: int, data: bytes) -> ProcessInfo:
        return await self._info("POST", f"/processes/{pid}/stdin", content=data)

    async def close_stdin(self, pid: int) -> ProcessInfo:
        return await self._info("POST", f"/processes/{pid}/close-stdin")

    async def kill(self, pid: int, signal: Signal = "TERM") -> ProcessInfo:
        return await self._info("POST", f"/processes/{pid}/kill", params={"signal": signal})

    async def resize(self, pid: int, cols: int, rows: int) -> ProcessInfo:
        params = {"cols": str(cols), "rows": str(rows)}
        return await self._info("POST", f"/processes/{pid}/resize", params=params)

    async def _info(self, method: str, path: str, **kwargs: Any) -> ProcessInfo:
        return parse(ProcessInfo, await self.agent.call(method, path, **kwargs))


async def _events(lines: AsyncIterator[bytes]) -> AsyncIterator[ProcessEvent]:
    """Validate what the agent streams: it runs inside the sandbox and is not trusted."""
    async for line in lines:
        if not line.strip():
            continue
        if len(line) > MAX_EVENT_BYTES:
            raise GatewayError("the sandbox agent sent an oversized event")
        if (event := parse_process_event(line)) is not None:
            yield event
