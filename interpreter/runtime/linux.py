"""Thin wrappers over the Linux facilities a sandbox is made of: overlay mounts, cgroup v1."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2
CGROUP_ROOT = Path("/sys/fs/cgroup")
# nsjail makes the first three for a jail; the freezer one is ours (made when a sandbox is first
# frozen, or for a restore: see freeze_tree), named the same way.
CGROUP_CONTROLLERS = ("memory", "pids", "cpu", "freezer")
NSJAIL_CGROUP_PARENT = "NSJAIL"  # nsjail's default parent; it makes NSJAIL.<pid> below it
FREEZE_SECONDS = 2.0  # a cgroup v1 freeze that takes longer is given up (thawed)
SWAP_ACCOUNTING = (CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists()


def mount_overlay(lower: list[Path], upper: Path, work: Path, target: Path) -> None:
    options = f"lowerdir={':'.join(map(str, lower))},upperdir={upper},workdir={work}"
    if _libc.mount(b"overlay", str(target).encode(), b"overlay", 0, options.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount overlay on {target}: {os.strerror(err)}")


def unmount(target: Path) -> None:
    if is_mounted(target) and _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def is_mounted(target: Path) -> bool:
    needle = f" {target} "
    with open("/proc/mounts") as mounts:
        return any(needle in line for line in mounts)


def ensure_cgroup_parents() -> None:
    for controller in CGROUP_CONTROLLERS:
        (CGROUP_ROOT / controller / NSJAIL_CGROUP_PARENT).mkdir(exist_ok=True)


def memory_limits(memory_mb: int) -> dict[str, str]:
    """A sandbox's memory cgroup values (in the order a fresh cgroup takes them). Memory and
    swap together are held to the memory limit: swap is not extra room. Kernel memory (pipes,
    AF_UNIX buffers, sockets, inotify marks) is charged to memory.limit_in_bytes, but cgroup v1
    counts TCP buffers apart and only once a limit is set: without one, a sandbox queues GBs on
    loopback connections that no limit sees (BENCHMARKS.md); they get a quarter of it."""
    limit = memory_mb * 2**20
    values = {
        "memory.limit_in_bytes": str(limit),
        "memory.kmem.tcp.limit_in_bytes": str(limit // 4),
    }
    if SWAP_ACCOUNTING:
        values["memory.memsw.limit_in_bytes"] = str(limit)
    return values


def set_memory_limits(cgroup: Path, memory_mb: int) -> None:
    """Change a sandbox's memory limits; memory+swap may never be below memory, so the order
    of the two writes depends on the direction."""
    values = memory_limits(memory_mb)
    current = int((cgroup / "memory.limit_in_bytes").read_text())
    order = list(values)
    if memory_mb * 2**20 > current:
        order.reverse()
    for key in order:
        (cgroup / key).write_text(values[key])


def sandbox_cgroups(jail_pid: int) -> list[Path]:
    """The cgroup folders nsjail made for the jail whose first process is ``jail_pid``."""
    name = f"{NSJAIL_CGROUP_PARENT}.{jail_pid}"
    return [CGROUP_ROOT / c / NSJAIL_CGROUP_PARENT / name for c in CGROUP_CONTROLLERS]


def sandbox_cgroup(jail_pid: int, controller: str) -> Path:
    """One controller's folder (``CGROUP_CONTROLLERS``) of ``sandbox_cgroups``."""
    return sandbox_cgroups(jail_pid)[CGROUP_CONTROLLERS.index(controller)]


def kill_cgroup(folder: Path, timeout: float = 5.0) -> None:
    """SIGKILL every process in a cgroup until it is empty, then remove it. Frozen ones (in
    the freezer cgroup of the same name) are thawed once signalled: a frozen process dies only
    when it runs again."""
    freezer = CGROUP_ROOT / "freezer" / Path(*folder.relative_to(CGROUP_ROOT).parts[1:])
    deadline = time.monotonic() + timeout
    while folder.exists():
        try:
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if pids and is_frozen(freezer):
            thaw(freezer)
        if not pids:
            try:
                folder.rmdir()
            except FileNotFoundError:
                return
            except OSError:
                pass
            else:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"cgroup {folder} did not empty")
        time.sleep(0.02)


def freeze_tree(memory: Path, freezer: Path, timeout: float = FREEZE_SECONDS) -> bool:
    """Stop every process of a sandbox where it is with the cgroup v1 freezer (no signal, no
    ptrace: nothing inside can tell or resist). Its processes, all in ``memory``, are moved into
    ``freezer`` first (made if missing); a child of a moved one is born there, so one more pass
    after the last move finds none left. False, thawed again, if the freeze does not complete
    in time (cgroup v1's freezer can stall on a task in an uninterruptible wait)."""
    freezer.mkdir(exist_ok=True)
    while True:
        inside = set(_ids(freezer / "tasks"))
        missing = [task for task in _ids(memory / "tasks") if task not in inside]
        if not missing:
            break
        for task in missing:
            with contextlib.suppress(OSError):  # e.g. a thread that ended meanwhile
                (freezer / "tasks").write_text(str(task))
    state = freezer / "freezer.state"
    state.write_text("FROZEN")
    deadline, polls = time.monotonic() + timeout, 0
    while state.read_text().strip() != "FROZEN":
        if time.monotonic() > deadline:
            thaw(freezer)
            return False
        time.sleep(0.001)
        polls += 1
        if polls % 50 == 0:
            state.write_text("FROZEN")  # asking again helps a stalled v1 freeze (as CRIU does)
    return True


def thaw(freezer: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (freezer / "freezer.state").write_text("THAWED")


def is_frozen(freezer: Path) -> bool:
    """Frozen, or freezing (a freeze asked for and not undone)."""
    try:
        return (freezer / "freezer.state").read_text().strip() != "THAWED"
    except (FileNotFoundError, NotADirectoryError):
        return False


def _ids(tasks: Path) -> list[int]:
    try:
        return [int(task) for task in tasks.read_text().split()]
    except (FileNotFoundError, ValueError):
        return []


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def overlay_lower_layers(target: Path) -> list[Path]:
    """The lower layers of the overlay mounted at ``target`` (top first), read from mountinfo."""
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if fields[4] != str(target) or " - overlay " not in line:
                continue
            options = line.rsplit(" ", 1)[1].strip().split(",")
            for option in options:
                if option.startswith("lowerdir="):
                    return [Path(p) for p in option.removeprefix("lowerdir=").split(":")]
    raise OSError(f"no overlay mounted at {target}")


def create_cgroups(name: str, values: dict[str, str]) -> list[Path]:
    """Make ``NSJAIL/<name>`` under each controller and write ``values`` (file name -> value)
    into the controller folders that have those files, e.g. {"memory.limit_in_bytes": "..."}."""
    ensure_cgroup_parents()
    folders = [CGROUP_ROOT / c / NSJAIL_CGROUP_PARENT / name for c in CGROUP_CONTROLLERS]
    for folder in folders:
        folder.mkdir(exist_ok=True)
    for key, value in values.items():
        controller = key.split(".", 1)[0]
        (CGROUP_ROOT / controller / NSJAIL_CGROUP_PARENT / name / key).write_text(value)
    return folders


def cgroups_rooted_at(root: Path) -> list[list[Path]]:
    """The sandbox cgroups (a folder per controller) whose processes have ``root`` as their root
    directory: how a tree whose PIDs were never recorded is found (the front end stopped while
    starting or restoring it)."""
    try:
        want = root.stat()
    except OSError:
        return []
    parent = CGROUP_ROOT / CGROUP_CONTROLLERS[0] / NSJAIL_CGROUP_PARENT
    found = []
    for folder in parent.iterdir() if parent.is_dir() else ():
        try:
            pids = (folder / "cgroup.procs").read_text().split()
        except OSError:
            continue
        for pid in pids:  # one process of the tree tells where it is
            try:
                got = os.stat(f"/proc/{pid}/root")
            except OSError:
                continue
            if (got.st_dev, got.st_ino) == (want.st_dev, want.st_ino):
                found.append(
                    [
                        CGROUP_ROOT / c / NSJAIL_CGROUP_PARENT / folder.name
                        for c in CGROUP_CONTROLLERS
                    ]
                )
            break
    return found


def rename_cgroups(folders: list[Path], name: str) -> list[Path]:
    """Rename cgroup folders in place (cgroup v1 allows it; their processes stay in them)."""
    renamed = []
    for folder in folders:
        with contextlib.suppress(FileNotFoundError):
            folder.with_name(name).rmdir()  # a stale empty one (names are host PIDs)
        folder.rename(folder.with_name(name))
        renamed.append(folder.with_name(name))
    return renamed


PR_SET_MEMORY_MERGE = 67
KSM = Path("/sys/kernel/mm/ksm")


def merge_memory() -> None:
    """Let KSM merge identical pages of this process and of every process it starts from now
    on (``prctl(PR_SET_MEMORY_MERGE)``, inherited across fork: nsjail, CRIU's restores, every
    sandbox's processes), and start KSM. Sandboxes run the same image, kernels and libraries:
    many of their pages are alike. OSError if this kernel has no KSM."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"PR_SET_MEMORY_MERGE: {os.strerror(error)}")
    (KSM / "run").write_text("1")
