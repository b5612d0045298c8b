"""A sandbox's disk: its writable layer on a file system of its own, so that the kernel bounds it.

The overlay's upper and work directories live on an ext4 file system in a sparse image file in
the sandbox's folder (``disk.img``), loop-mounted at ``disk/``. Its size is the sandbox's disk
limit and its inode count is fixed when it is made (one per 16 KiB, ext4's own ratio): code
inside that fills it gets ENOSPC, sees the limit in ``df`` and ``df -i``, and cannot fill the
host's disk. Why a file system per sandbox and not quotas on a shared one: this kernel has
neither XFS quotas nor ext4's quota format (CONFIG_XFS_QUOTA, CONFIG_QFMT_V2 are off), tmpfs
quotas would cost RAM, and btrfs qgroups bound bytes but not inodes and are invisible to
``df``. Making one costs ~10 ms for mkfs and ~10 ms for the loop mount (BENCHMARKS.md).

The image is written only through the kernel's ext4 driver: nothing in the sandbox reaches the
file or its loop device, so the host never mounts bytes that sandbox code chose. Images are
sparse (space is taken as it is written, and given back on delete: ``discard``): the host's
disk is shared by every sandbox's image and is not reserved per sandbox.

Blocking functions: call them from a thread.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from interpreter.core.errors import SandboxStartError
from interpreter.runtime import linux
from interpreter.runtime.images import ID_SHIFT

IMAGE = "disk.img"
MOUNT = "disk"
BYTES_PER_INODE = 16384
# noinit_itable: the image is new and sparse (its inode tables read as zeros already), so the
# kernel's background zeroing of them would only write ~1/64 of the disk size for nothing.
MOUNT_OPTIONS = "loop,discard,noinit_itable,nosuid,nodev"


def inodes_for(disk_mb: int) -> int:
    return disk_mb * (2**20 // BYTES_PER_INODE)


def layer_dirs(folder: Path) -> tuple[Path, Path]:
    """The overlay's upper and work directories of the sandbox in ``folder``. A sandbox made
    before disks were its own keeps its layer in its folder (no limit) until it is killed."""
    legacy = folder / "upper"
    if legacy.is_dir() and not (folder / IMAGE).exists():
        return legacy, folder / "work"
    return folder / MOUNT / "upper", folder / MOUNT / "work"


def create(folder: Path, disk_mb: int) -> None:
    """Make the sandbox's disk (a new image file, formatted) and mount it."""
    image = folder / IMAGE
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(image, flags, 0o600)
    try:
        os.ftruncate(fd, disk_mb * 2**20)
    finally:
        os.close(fd)
    _run(
        "mkfs.ext4", "-q", "-F",
        "-m", "0",  # no blocks kept for host root: root inside is not host root
        "-N", str(inodes_for(disk_mb)),
        "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
        str(image),
    )  # fmt: skip
    mount(folder)


def exists(folder: Path) -> bool:
    return (folder / IMAGE).is_file()


def mount(folder: Path) -> None:
    """Mount the disk (if it is not) with the layer's directories in it, upper/ the sandbox's."""
    target = folder / MOUNT
    if exists(folder) and not linux.is_mounted(target):
        target.mkdir(mode=0o700, exist_ok=True)
        _run("mount", "-o", MOUNT_OPTIONS, "--", str(folder / IMAGE), str(target))
    upper, work = layer_dirs(folder)
    for sub in (upper, work):
        sub.mkdir(mode=0o755, exist_ok=True)
    os.chown(upper, ID_SHIFT, ID_SHIFT, follow_symlinks=False)


def unmount(folder: Path) -> None:
    """Unmount the disk (its overlay must be unmounted first); the loop device goes with it."""
    linux.unmount(folder / MOUNT)


def used(folder: Path) -> int:
    """Bytes in use on the sandbox's disk: what its layer holds (a statfs, not a walk)."""
    stats = _statvfs(folder)
    return 0 if stats is None else (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def total(folder: Path) -> int:
    stats = _statvfs(folder)
    return 0 if stats is None else stats.f_blocks * stats.f_frsize


def _statvfs(folder: Path) -> os.statvfs_result | None:
    if not linux.is_mounted(folder / MOUNT):
        return None
    return os.statvfs(folder / MOUNT)


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SandboxStartError(f"{argv[0]} failed: {result.stderr.strip()[-500:]}")
