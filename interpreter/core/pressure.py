"""How close a sandbox came to its limits: the counters its cgroups keep (cgroup v1's
``memory.oom_control`` and ``pids.events``), read by the host around each run to tell a bomb
(a fork bomb, a memory bomb) from an ordinary failure, and to name it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pressure:
    oom_kills: int  # processes the kernel's OOM killer ended in the sandbox so far
    pids_refused: int  # forks and thread starts refused at the process limit so far
    memory_limit: int  # bytes
    pids_limit: int  # processes and threads

    def oom_since(self, before: Pressure) -> bool:
        return self.oom_kills > before.oom_kills

    def pids_since(self, before: Pressure) -> bool:
        return self.pids_refused > before.pids_refused

    def since(self, before: Pressure) -> bool:
        return self.oom_since(before) or self.pids_since(before)
