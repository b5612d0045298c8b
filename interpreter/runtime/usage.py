"""Resource use of a jailed tree, read on the host: memory from its cgroup v1 memory
controller, CPU time from its processes (nsjail makes no cpuacct cgroup), disk from its overlay's
upper layer. Blocking: call from a thread."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from interpreter.core.sandbox_fs import walk_files
from interpreter.runtime import linux

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def memory(jail_pid: int) -> tuple[int, int] | None:
    """(used, cache) in bytes, or None if the tree's cgroup is gone."""
    folder = _cgroup(jail_pid, "memory")
    try:
        usage = int((folder / "memory.usage_in_bytes").read_text())
        stat = dict(
            (k, int(v))
            for k, v in (line.split() for line in (folder / "memory.stat").read_text().splitlines())
        )
    except (OSError, ValueError):
        return None
    cache = stat.get("total_cache", stat.get("cache", 0))
    # Like `free`: reclaimable file pages are not "used".
    inactive_file = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    return max(usage - inactive_file, 0), cache


def cpu_seconds(jail_pid: int) -> float | None:
    """User + system time of the tree's processes and of their reaped children."""
    try:
        pids = (_cgroup(jail_pid, "memory") / "cgroup.procs").read_text().split()
    except OSError:
        return None
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / CLOCK_TICKS


def disk_used(upper: Path) -> int:
    """Bytes in an overlay's upper layer (what the sandbox added or changed on its image)."""
    # Iterative and no-follow: a tree thousands of levels deep or a link loop costs no more
    # than its entries.
    return sum(info.st_blocks * 512 for _, info in walk_files(upper))


def disk_total(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder if folder.exists() else "/").total
    except OSError:
        return 0


def _cgroup(jail_pid: int, controller: str) -> Path:
    return next(p for p in linux.sandbox_cgroups(jail_pid) if p.parts[-3] == controller)
