"""Looking at a sandbox from the host side, to check isolation and clean-up."""

from __future__ import annotations

from pathlib import Path

from ..conftest import Server


def folder_of(server: Server, sandbox_id: str) -> Path:
    return server.home / "sandboxes" / sandbox_id


def nsjail_pids(folder: Path) -> list[int]:
    needle = str(folder / "root").encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"nsjail") and needle in cmdline:
            pids.append(int(entry.name))
    return pids


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
    return Path(f"/proc/{pid}").exists()


def mounted_under(folder: Path) -> list[str]:
    return [line for line in Path("/proc/mounts").read_text().splitlines() if str(folder) in line]


def cgroups_of(jail_pid: int) -> list[Path]:
    return [Path(f"/sys/fs/cgroup/{c}/NSJAIL/NSJAIL.{jail_pid}") for c in ("memory", "pids", "cpu")]
