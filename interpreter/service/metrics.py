"""Resource use of a sandbox, as the runtime reads it: memory, CPU time, disk.

CPU use is a rate, so it is measured between two readings: the previous request's reading when it
is recent, else a short one taken now.

``MetricsHistory`` keeps a time series per running sandbox (E2B's metrics API returns one), fed by
the sampler every few seconds; disk use, a walk of the upper layer, is re-measured for it at most
every ``DISK_EVERY`` seconds. Blocking functions: call them from a thread.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from interpreter.core.models import SandboxRecord
from interpreter.runtime.base import Runtime, SandboxProcess

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
    net_rx_bytes: int = 0  # received through its egress (since it was last attached)
    net_tx_bytes: int = 0  # sent


@dataclass
class _Reading:
    at: float  # monotonic seconds
    cpu_seconds: float


_previous: dict[str, _Reading] = {}


def read(
    runtime: Runtime, record: SandboxRecord, process: SandboxProcess, disk_used: int | None = None
) -> SandboxMetrics:
    """The sandbox's use now; zeros for CPU and memory when it is not running (paused).
    ``disk_used``: a recent measure of it, instead of measuring it now."""
    cpu_count = max(1, math.ceil(record.cpu))
    use = runtime.usage(process) if record.state == "running" else None
    rx, tx = (runtime.network_bytes(process) if use is not None else None) or (0, 0)
    return SandboxMetrics(
        timestamp=datetime.now(UTC),
        cpu_count=cpu_count,
        cpu_used_pct=_cpu_pct(runtime, record.id, process, use.cpu_seconds, cpu_count)
        if use is not None
        else 0.0,
        mem_used=use.mem_used if use else 0,
        mem_total=record.memory_mb * 2**20,
        mem_cache=use.mem_cache if use else 0,
        disk_used=disk_used if disk_used is not None else runtime.disk_used(process),
        disk_total=runtime.disk_total(process),
        net_rx_bytes=rx,
        net_tx_bytes=tx,
    )


def _cpu_seconds(runtime: Runtime, process: SandboxProcess) -> float | None:
    use = runtime.usage(process)
    return use.cpu_seconds if use is not None else None


def _cpu_pct(
    runtime: Runtime, sandbox_id: str, process: SandboxProcess, seconds: float, cpu_count: int
) -> float:
    now_seconds, now = seconds, time.monotonic()
    before = _previous.get(sandbox_id)
    if before is None or now - before.at > FRESH_WINDOW or now_seconds < before.cpu_seconds:
        before = _Reading(now, now_seconds)
        time.sleep(MIN_WINDOW)
        now_seconds = _cpu_seconds(runtime, process) or now_seconds
        now = time.monotonic()
    elif now - before.at < MIN_WINDOW:
        time.sleep(MIN_WINDOW - (now - before.at))
        now_seconds = _cpu_seconds(runtime, process) or now_seconds
        now = time.monotonic()
    _previous[sandbox_id] = _Reading(now, now_seconds)
    for stale in [k for k, r in _previous.items() if now - r.at > FRESH_WINDOW]:
        del _previous[stale]  # killed sandboxes
    rate = (now_seconds - before.cpu_seconds) / max(now - before.at, 1e-6)
    return min(max(rate / cpu_count * 100, 0.0), 100.0)


DISK_EVERY = 30.0  # seconds between two walks of a sandbox's upper layer for the history


class MetricsHistory:
    """Samples of each running sandbox's use, oldest first, kept for ``kept``."""

    def __init__(self, kept: timedelta = timedelta(hours=1)) -> None:
        self.kept = kept
        self._series: dict[str, deque[SandboxMetrics]] = {}
        self._disk: dict[str, tuple[float, int]] = {}  # sandbox -> (monotonic time, bytes)

    def sample(self, runtime: Runtime, record: SandboxRecord, process: SandboxProcess) -> None:
        """Add a sample of the sandbox now (blocking: call it from a thread)."""
        measured = self._disk.get(record.id)
        if measured is None or time.monotonic() - measured[0] > DISK_EVERY:
            measured = (time.monotonic(), runtime.disk_used(process))
            self._disk[record.id] = measured
        sample = read(runtime, record, process, disk_used=measured[1])
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
