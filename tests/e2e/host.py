"""Looking at a sandbox from the host side, to check isolation and clean-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..conftest import Server


def folder_of(server: Server, sandbox_id: str) -> Path:
    return server.home / "sandboxes" / sandbox_id


def command_lines() -> Iterator[tuple[int, list[bytes]]]:
    """Each process on the host, with its command line (split at its NULs)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue


def nsjail_pids(folder: Path) -> list[int]:
    needle = str(folder / "root").encode()
    return [
        pid
        for pid, cmdline in command_lines()
        if cmdline and cmdline[0].endswith(b"nsjail") and needle in cmdline
    ]


def sandbox_tree(folder: Path) -> tuple[int, list[int]]:
    """The jail's PID 1 as the host sees it, and the sandbox's processes on the host: nsjail and
    its tree, or, for a sandbox CRIU restored (from a template snapshot or a resume: no nsjail),
    the restored tree."""
    pids = nsjail_pids(folder)
    if pids:
        (nsjail,) = pids
        tree = [nsjail, *descendants(nsjail)]
        return tree[1], tree
    want = (folder / "root").stat()
    inside = []
    for entry in Path("/proc").iterdir():
        try:
            root = (entry / "root").stat() if entry.name.isdigit() else None
        except OSError:
            continue
        if root is not None and (root.st_dev, root.st_ino) == (want.st_dev, want.st_ino):
            inside.append(int(entry.name))
    (pid1,) = [pid for pid in inside if _parent(pid) not in inside]
    return pid1, [pid1, *descendants(pid1)]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            kids = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            found.append(kid)
            todo.append(kid)
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie: a CRIU-restored tree's PID 1 is a child of the host's init, which
    reaps it when it gets to it (not promptly on every machine)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def mounted_under(folder: Path) -> list[str]:
    return [line for line in Path("/proc/mounts").read_text().splitlines() if str(folder) in line]


def cgroups_of(jail_pid: int) -> list[Path]:
    return [Path(f"/sys/fs/cgroup/{c}/NSJAIL/NSJAIL.{jail_pid}") for c in ("memory", "pids", "cpu")]
