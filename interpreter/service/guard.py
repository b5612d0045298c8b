"""A sandbox's limits, stray processes and runaway commands, as its runtime tells and kills
them: what the kernels (execution/kernels.py) and the commands (commands.py) recover with."""

from __future__ import annotations

import asyncio

from interpreter.core.pressure import Pressure
from interpreter.runtime.base import Runtime, SandboxProcess


class RuntimeGuard:
    def __init__(self, runtime: Runtime, process: SandboxProcess) -> None:
        self.runtime, self.process = runtime, process

    def pressure(self) -> Pressure | None:
        return self.runtime.pressure(self.process)

    async def reap_strays(self) -> int | None:
        return await asyncio.to_thread(self.runtime.reap_strays, self.process)

    async def kill_tree(self, pid: int, at_least: int = 0) -> int:
        return await asyncio.to_thread(self.runtime.kill_tree, self.process, pid, at_least)
