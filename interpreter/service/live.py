"""The running sandboxes this front end is connected to, and the lock each one's lifecycle
changes (pause, resume, kill) take turns on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from interpreter.core.errors import SandboxNotFoundError
from interpreter.core.models import SandboxRecord
from interpreter.execution.kernels import SandboxKernels
from interpreter.runtime.base import SandboxProcess
from interpreter.service.agent_client import AgentClient
from interpreter.service.commands import SandboxCommands
from interpreter.service.files import SandboxFiles
from interpreter.service.guard import RuntimeGuard


@dataclass
class LiveSandbox:
    """A running sandbox and the host's connections to it (its gateway and its agent)."""

    process: SandboxProcess
    kernels: SandboxKernels
    files: SandboxFiles
    commands: SandboxCommands

    @classmethod
    def connect(cls, process: SandboxProcess, kernels: SandboxKernels) -> LiveSandbox:
        agent = AgentClient(process.agent_socket)
        guard = kernels.guard if isinstance(kernels.guard, RuntimeGuard) else None
        return cls(process, kernels, SandboxFiles(agent), SandboxCommands(agent, guard))

    @property
    def agent(self) -> AgentClient:
        return self.files.agent

    async def close(self, why: str = "stopped") -> None:
        """Close the host's connections (the sandbox's processes go on). ``why`` ("killed",
        "paused") is what agent calls in flight are told: SandboxGoneError. Once is enough."""
        if self.agent.gone is not None:
            return
        try:
            await self.agent.close(why)
        finally:  # the kernels' websockets too, even if the agent's connection failed to close
            await self.kernels.close()


class LiveSandboxes:
    def __init__(self) -> None:
        self._live: dict[str, LiveSandbox] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __contains__(self, sandbox_id: object) -> bool:
        return sandbox_id in self._live

    def get(self, sandbox_id: str) -> LiveSandbox | None:
        return self._live.get(sandbox_id)

    def running(self, sandbox_id: str) -> LiveSandbox:
        live = self._live.get(sandbox_id)
        if live is None:
            raise SandboxNotFoundError(f"sandbox {sandbox_id!r} is not running")
        return live

    def add(self, sandbox_id: str, live: LiveSandbox) -> None:
        self._live[sandbox_id] = live

    def pop(self, sandbox_id: str) -> LiveSandbox | None:
        return self._live.pop(sandbox_id, None)

    def lock(self, sandbox_id: str) -> asyncio.Lock:
        """Pause, resume and kill of one sandbox take turns on this."""
        return self._locks.setdefault(sandbox_id, asyncio.Lock())

    def forget_lock(self, sandbox_id: str) -> None:
        self._locks.pop(sandbox_id, None)

    async def close_all(self) -> None:
        running, self._live = list(self._live.values()), {}
        for live in running:
            await live.close()


def process_of(record: SandboxRecord) -> SandboxProcess | None:
    """The record's process tree, if its PIDs were recorded."""
    if record.pid is None or record.jail_pid is None or record.folder is None:
        return None
    return SandboxProcess(record.id, Path(record.folder), record.pid, record.jail_pid)
