"""Commands of one sandbox: processes started, followed, fed and signalled through its agent.

While a command's events stream, the host watches the sandbox's limits: a command whose tree
holds a good part of the process limit when forks are refused (a fork bomb) is killed from the
host with everything it started (the agent, starved of CPU by the bomb, could not keep its own
timeout), and its end says why; so is one still running well past its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from interpreter.core.envs import checked_envs
from interpreter.core.errors import GatewayError
from interpreter.core.pressure import Pressure
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
from interpreter.service.guard import RuntimeGuard

Signal = Literal["TERM", "KILL", "INT"]
MAX_EVENT_BYTES = 1 << 20  # one event line from the agent (it sends 64 KiB chunks)
ProcessEvent = ProcessStart | ProcessOutput | ProcessEnd
WATCH_SECONDS = 0.25
OVERDUE_SECONDS = 10.0  # past its timeout: the agent's own kill (SIGTERM, 5 s, SIGKILL) failed


class SandboxCommands:
    def __init__(self, agent: AgentClient, guard: RuntimeGuard | None = None) -> None:
        self.agent = agent
        self.guard = guard  # None: no host-side recovery from runaway commands
        self.default_cwd: str | None = None  # the template's WORKDIR (None: the user's home)
        # The manager's: a stream that breaks because the sandbox was killed (or paused)
        # under it ends with SandboxGoneError.
        self.watch: Callable[[AsyncIterator[ProcessEvent]], AsyncIterator[ProcessEvent]] = (
            lambda events: events
        )

    async def start(self, spec: CommandSpec) -> AsyncIterator[ProcessEvent]:
        """Start a process; its events (start, stdout, stderr, end) as they come. The process
        keeps running if the caller stops reading."""
        checked_envs(spec.envs)
        if spec.cwd is None and self.default_cwd is not None:
            spec = spec.model_copy(update={"cwd": self.default_cwd})
        lines = await self.agent.stream_lines("POST", "/processes", json=spec.wire())
        events = _events(lines)
        guarded = events if self.guard is None else self._guarded(events, self.guard, spec.timeout)
        return self.watch(guarded)

    async def _guarded(
        self, events: AsyncIterator[ProcessEvent], guard: RuntimeGuard, timeout: float | None
    ) -> AsyncIterator[ProcessEvent]:
        watch: Watch | None = None
        try:
            async for event in events:
                if isinstance(event, ProcessStart) and watch is None:
                    watch = Watch(guard, event.pid, timeout)
                elif isinstance(event, ProcessEnd) and watch is not None:
                    why = await watch.outcome()
                    if why is not None:
                        event = event.model_copy(update={"error": why})
                yield event
        finally:
            if watch is not None:
                watch.stop()

    async def follow(self, pid: int, replay: bool = True) -> AsyncIterator[ProcessEvent]:
        """A running (or finished) process's events: its kept output, then live."""
        lines = await self.agent.stream_lines(
            "GET", f"/processes/{pid}/stream", params={"replay": "1" if replay else "0"}
        )
        return self.watch(_events(lines))

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


class Watch:
    """A running command, watched until it ends: killed if it is a fork bomb or long overdue."""

    def __init__(self, guard: RuntimeGuard, pid: int, timeout: float | None) -> None:
        self.guard, self.pid, self.timeout = guard, pid, timeout
        self.killing = False  # from the moment it decided to: its end is the kill's
        self.task = asyncio.create_task(self._run())

    async def outcome(self) -> str | None:
        """Why it was killed, once its end came: None if it was not."""
        if not self.killing:
            self.stop()
            return None
        with contextlib.suppress(asyncio.CancelledError):
            return await asyncio.wait_for(asyncio.shield(self.task), 10.0)
        return None

    def stop(self) -> None:
        if not self.killing:
            self.task.cancel()

    async def _run(self) -> str | None:
        loop = asyncio.get_running_loop()
        overdue = None if self.timeout is None else loop.time() + self.timeout + OVERDUE_SECONDS
        before = self.guard.pressure()
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            now = self.guard.pressure()
            if before is not None and now is not None and now.since(before):
                # Refused forks and OOM kills are the sandbox's: this command is the bomb if its
                # tree holds a quarter of the process limit (what else runs is the services and
                # their kernels). A bomb may fill the memory first: its copies are then the OOM
                # killer's (sandbox/oom.py) and forks fail for want of memory, not of pids.
                self.killing = True
                killed = await self.guard.kill_tree(self.pid, max(1, now.pids_limit // 4))
                if killed:
                    await self.guard.reap_strays()  # what the bomb left outside its tree
                    return (
                        f"the command reached {_limits(before, now)}: it was killed with the "
                        f"{killed} processes it ran"
                    )
                self.killing, before = False, now
            if overdue is not None and loop.time() > overdue:
                self.killing = True
                killed = await self.guard.kill_tree(self.pid)
                await self.guard.reap_strays()
                return f"timed out after {self.timeout:g} s: killed with the {killed} processes"


def _limits(before: Pressure, now: Pressure) -> str:
    limits = []
    if now.pids_since(before):
        limits.append(f"the sandbox's process limit ({now.pids_limit} processes and threads)")
    if now.oom_since(before):
        limits.append(f"the sandbox's memory limit ({now.memory_limit >> 20} MiB)")
    return " and ".join(limits)
