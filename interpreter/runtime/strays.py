"""After a bomb: the counters that tell one happened, and the stray processes it left.

The sandbox's supervisor (PID 1 inside, ``sandbox/supervisor.py``) knows which processes are its
services (the agent with the commands it runs, the gateway with its kernels); on SIGUSR1 it kills
every other one (orphans of a dead kernel, a fork bomb's children) and writes ``run/reaped``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import stat
import threading
import time
from pathlib import Path

from interpreter.core.pressure import Pressure
from interpreter.runtime import linux

REAPED = "reaped"  # in the run folder: "<how many reaps> <processes killed by the last>"


# Read twice a run: opening a cgroup file costs ~50 us, reading an open one again (pread at 0
# makes the kernel render it anew) ~2 us. jail pid -> (memory.oom_control, pids.events) fds.
_counter_fds: dict[int, tuple[int, int]] = {}
_counter_lock = threading.Lock()


def pressure(jail_pid: int) -> Pressure | None:
    """The sandbox's OOM kills and refused forks so far (None if its cgroups are gone)."""
    memory, pids = _counter_folders(jail_pid)
    try:
        with _counter_lock:
            fds = _counter_fds.get(jail_pid)
            if fds is None:
                fds = _counter_fds[jail_pid] = _open_counters(memory, pids)
            oom = _field(os.pread(fds[0], 4096, 0).decode(), "oom_kill")
            refused = _field(os.pread(fds[1], 4096, 0).decode(), "max")
        if not (oom or refused):  # the common case: the limits name no bomb
            return Pressure(oom, refused, 0, 0)
        memory_limit = int((memory / "memory.limit_in_bytes").read_text())
        raw_pids = (pids / "pids.max").read_text().strip()
    except (OSError, ValueError):
        forget(jail_pid)  # its cgroups went (a kill): opened again if they are back
        return None
    pids_limit = int(raw_pids) if raw_pids.isdigit() else 0
    return Pressure(oom, refused, memory_limit, pids_limit)


@functools.lru_cache(maxsize=4096)
def _counter_folders(jail_pid: int) -> tuple[Path, Path]:
    # A pure function of the PID, twice a run: 18 Path joins each time were ~5% of the front
    # end's CPU per run_code (BENCHMARKS.md, issue 19).
    memory, pids = linux.sandbox_cgroups(jail_pid)[:2]
    return memory, pids


def _open_counters(memory: Path, pids: Path) -> tuple[int, int]:
    oom = os.open(memory / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return oom, os.open(pids / "pids.events", os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        os.close(oom)
        raise


def forget(jail_pid: int) -> None:
    """Close the sandbox's counter files (it was killed, paused or is gone)."""
    with _counter_lock:
        for fd in _counter_fds.pop(jail_pid, ()):
            os.close(fd)


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


def kill_tree(jail_pid: int, pid: int, at_least: int = 0, timeout: float = 3.0) -> int:
    """From the host, stop and then kill the sandbox's process ``pid`` (as its PID namespace
    numbers it; the agent starts each command in a session of its own) with its session and
    everything descending from them, if they are at least ``at_least`` tasks (threads count:
    they are what the process limit counts); how many processes were killed.

    Stopped first, in passes until a pass finds none new (a stopped process forks no more),
    then killed: a fork bomb cannot outrun it, and no process of the sandbox, starved of CPU
    by the bomb, has to take part. Only processes listed in the sandbox's cgroup are touched."""
    procs = linux.sandbox_cgroups(jail_pid)[1] / "cgroup.procs"
    stopped: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = _tree(procs, str(pid))
        if not stopped and sum(tree.values()) < at_least:
            return 0
        new = set(tree) - stopped
        if not new:
            break
        for host_pid in new:
            _signal(host_pid, signal.SIGSTOP)
        stopped |= new
    for host_pid in stopped:
        _signal(host_pid, signal.SIGKILL)
    return len(stopped)


def _tree(procs: Path, pid: str) -> dict[int, int]:
    """The cgroup's processes that are ``pid`` (inner number), in its session, or descend from
    one of those -> their threads."""
    children: dict[int, list[int]] = {}
    threads: dict[int, int] = {}
    roots = []
    for host_pid in _listed(procs):
        status = _status(host_pid)
        if not status:
            continue  # gone meanwhile
        parent, count = status.get("PPid", "0"), status.get("Threads", "1")
        children.setdefault(int(parent) if parent.isdigit() else 0, []).append(host_pid)
        threads[host_pid] = int(count) if count.isdigit() else 1
        inner = [ids.split()[-1:] for ids in (status.get("NSpid", ""), status.get("NSsid", ""))]
        if [pid] in inner:
            roots.append(host_pid)
    found: dict[int, int] = {}
    while roots:
        host_pid = roots.pop()
        if host_pid not in found:
            found[host_pid] = threads.get(host_pid, 1)
            roots.extend(children.get(host_pid, ()))
    return found


def _listed(procs: Path) -> list[int]:
    try:
        return [int(p) for p in procs.read_text().split()]
    except OSError:
        return []


def _status(host_pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{host_pid}/status").read_text()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def _signal(host_pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(host_pid, signum)
