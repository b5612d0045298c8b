"""Resource use of a sandbox, read on the host: memory from its cgroup v1 memory controller, CPU
time from its processes (nsjail makes no cpuacct cgroup), disk from its overlay's upper layer.

CPU use is a rate, so it is measured between two readings: the previous request's reading when it
is recent, else a short one taken now.

``MetricsHistory`` keeps a time series per running sandbox (E2B's metrics API returns one), fed by
the manager every few seconds; disk use, a walk of the upper layer, is re-measured for it at most
every ``DISK_EVERY`` seconds.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from interpreter.core.models import SandboxRecord
from interpreter.runtime import linux

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIN_WINDOW = 0.05  # seconds between two CPU readings for a meaningful rate
FRESH_WINDOW = 30.0  # an older previous reading is not "current" use any more


@dataclass(frozen=True)
class SandboxMetrics:
    timestamp: datetime
    cpu_count: int
    cpu_used_pct: float  # of the sandbox's CPU count, 0-100
    mem_used: int  # bytes, page cache excluded
    mem_total: int  # the memory limit
    mem_cache: int
    disk_used: int  # bytes written by the sandbox (its upper layer)
    disk_total: int


@dataclass
class _Reading:
    at: float  # monotonic seconds
    cpu_seconds: float


_previous: dict[str, _Reading] = {}


def read(record: SandboxRecord, disk_used: int | None = None) -> SandboxMetrics:
    """The sandbox's use now; zeros for CPU and memory when it is not running (paused).
    ``disk_used``: a recent measure of it, instead of measuring it now."""
    cpu_count = max(1, math.ceil(record.cpu))
    memory = _memory(record.jail_pid) if record.state == "running" else None
    folder = Path(record.folder) if record.folder else None
    pct = _cpu_pct(record, cpu_count) if memory is not None else 0.0
    used, cache = memory or (0, 0)
    return SandboxMetrics(
        timestamp=datetime.now(UTC),
        cpu_count=cpu_count,
        cpu_used_pct=pct,
        mem_used=used,
        mem_total=record.memory_mb * 2**20,
        mem_cache=cache,
        disk_used=disk_used if disk_used is not None else _disk_used(folder) if folder else 0,
        disk_total=_disk_total(folder),
    )


def _memory(jail_pid: int | None) -> tuple[int, int] | None:
    if jail_pid is None:
        return None
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


def _cgroup(jail_pid: int, controller: str) -> Path:
    return next(p for p in linux.sandbox_cgroups(jail_pid) if p.parts[-3] == controller)


def _cpu_seconds(jail_pid: int) -> float | None:
    """User + system time of the sandbox's processes and of their reaped children."""
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


def _cpu_pct(record: SandboxRecord, cpu_count: int) -> float:
    if record.jail_pid is None:
        return 0.0
    now_seconds = _cpu_seconds(record.jail_pid)
    if now_seconds is None:
        return 0.0
    now = time.monotonic()
    before = _previous.get(record.id)
    if before is None or now - before.at > FRESH_WINDOW or now_seconds < before.cpu_seconds:
        before = _Reading(now, now_seconds)
        time.sleep(MIN_WINDOW)
        now_seconds = _cpu_seconds(record.jail_pid) or now_seconds
        now = time.monotonic()
    elif now - before.at < MIN_WINDOW:
        time.sleep(MIN_WINDOW - (now - before.at))
        now_seconds = _cpu_seconds(record.jail_pid) or now_seconds
        now = time.monotonic()
    _previous[record.id] = _Reading(now, now_seconds)
    for stale in [k for k, r in _previous.items() if now - r.at > FRESH_WINDOW]:
        del _previous[stale]  # killed sandboxes
    rate = (now_seconds - before.cpu_seconds) / max(now - before.at, 1e-6)
    return min(max(rate / cpu_count * 100, 0.0), 100.0)


def _disk_used(folder: Path) -> int:
    """Bytes the sandbox wrote (what it added or changed on top of its image)."""
    upper, total = folder / "upper", 0
    for root, dirs, files in os.walk(upper):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def _disk_total(folder: Path | None) -> int:
    try:
        return shutil.disk_usage(folder if folder and folder.exists() else "/").total
    except OSError:
        return 0


DISK_EVERY = 30.0  # seconds between two walks of a sandbox's upper layer for the history


class MetricsHistory:
    """Samples of each running sandbox's use, oldest first, kept for ``kept``."""

    def __init__(self, kept: timedelta = timedelta(hours=1)) -> None:
        self.kept = kept
        self._series: dict[str, deque[SandboxMetrics]] = {}
        self._disk: dict[str, tuple[float, int]] = {}  # sandbox -> (monotonic time, bytes)

    def sample(self, record: SandboxRecord) -> None:
        """Add a sample of the sandbox now (blocking: call it from a thread)."""
        measured = self._disk.get(record.id)
        if measured is None or time.monotonic() - measured[0] > DISK_EVERY:
            folder = Path(record.folder) if record.folder else None
            measured = (time.monotonic(), _disk_used(folder) if folder else 0)
            self._disk[record.id] = measured
        sample = read(record, disk_used=measured[1])
        series = self._series.setdefault(record.id, deque())
        series.append(sample)
        while series and series[0].timestamp < sample.timestamp - self.kept:
            series.popleft()

    def between(
        self, sandbox_id: str, start: datetime | None, end: datetime | None
    ) -> list[SandboxMetrics]:
        return [
            sample
            for sample in self._series.get(sandbox_id, ())
            if (start is None or sample.timestamp >= start)
            and (end is None or sample.timestamp <= end)
        ]

    def forget(self, sandbox_id: str) -> None:
        self._series.pop(sandbox_id, None)
        self._disk.pop(sandbox_id, None)
