"""After a bomb: the counters that tell one happened, and the stray processes it left.

The sandbox's supervisor (PID 1 inside, ``sandbox/supervisor.py``) knows which processes are its
services (the agent with the commands it runs, the gateway with its kernels); on SIGUSR1 it kills
every other one (orphans of a dead kernel, a fork bomb's children) and writes ``run/reaped``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from pathlib import Path

from interpreter.core.pressure import Pressure
from interpreter.runtime import linux

REAPED = "reaped"  # in the run folder: "<how many reaps> <processes killed by the last>"


def pressure(jail_pid: int) -> Pressure | None:
    """The sandbox's OOM kills and refused forks so far (None if its cgroups are gone)."""
    memory, pids = linux.sandbox_cgroups(jail_pid)[:2]
    try:
        oom = _field((memory / "memory.oom_control").read_text(), "oom_kill")
        refused = _field((pids / "pids.events").read_text(), "max")
        memory_limit = int((memory / "memory.limit_in_bytes").read_text())
        raw_pids = (pids / "pids.max").read_text().strip()
    except (OSError, ValueError):
        return None
    pids_limit = int(raw_pids) if raw_pids.isdigit() else 0
    return Pressure(oom, refused, memory_limit, pids_limit)


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    return 0


def reap(folder: Path, jail_pid: int, timeout: float = 15.0) -> int | None:
    """Have the supervisor kill the sandbox's stray processes; how many it killed (None: it did
    not answer in time)."""
    ack = folder / "run" / REAPED
    before = _read_ack(ack)
    try:
        # Among hundreds of a bomb's processes in its CPU quota, PID 1 would get a sliver of it.
        os.setpriority(os.PRIO_PROCESS, jail_pid, -20)
        os.kill(jail_pid, signal.SIGUSR1)
    except (ProcessLookupError, PermissionError):
        return None
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = _read_ack(ack)
            if now is not None and now != before:
                return now[1]
            time.sleep(0.01)
        return None
    finally:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, jail_pid, 0)


def _read_ack(path: Path) -> tuple[int, int] | None:
    # Written by the sandbox's root: a regular file is read, at most 64 bytes, no link followed.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        fields = os.read(fd, 64).split()
    finally:
        os.close(fd)
    with contextlib.suppress(ValueError, IndexError):
        return int(fields[0]), int(fields[1])
    return None
