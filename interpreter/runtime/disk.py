"""A sandbox's disk: its writable layer on a file system of its own, so that the kernel bounds it.

The overlay's upper and work directories live on an ext4 file system in a sparse image file in
the sandbox's folder (``disk.img``), loop-mounted at ``disk/``. Its size is the sandbox's disk
limit and its inode count is fixed when it is made (one per 16 KiB, ext4's own ratio): code
inside that fills it gets ENOSPC, sees the limit in ``df`` and ``df -i``, and cannot fill the
host's disk. Why a file system per sandbox and not quotas on a shared one: this kernel has
neither XFS quotas nor ext4's quota format (CONFIG_XFS_QUOTA, CONFIG_QFMT_V2 are off), tmpfs
quotas would cost RAM, and btrfs qgroups bound bytes but not inodes and are invisible to
``df``.

A new disk is a copy of a file system formatted once per size (``HOME/disks/``, the few sizes
used last): its ~200 KB of metadata copied, the rest left a hole, then loop-mounted in-process
(``loop.py``) and given a UUID of its own. That is ~5 ms, where ``mkfs.ext4`` and ``mount -o
loop`` took ~80 ms of every create under load, two forks and execs (BENCHMARKS.md, issue 19).
Each disk's UUID is its own as mkfs would have made it, though ext4 would mount copies sharing
one (it keeps no table of them; XFS and btrfs do): the UUID is what ``statfs``'s ``f_fsid``,
fanotify's file ids and blkid name a file system by.

The image is written only through the kernel's ext4 driver: nothing in the sandbox reaches the
file or its loop device, so the host never mounts bytes that sandbox code chose (the formatted
copies are the host's own, read-only, checked before use). Images are sparse (space is taken as
it is written, and given back on delete: ``discard``): the host's disk is shared by every
sandbox's image and is not reserved per sandbox.

Blocking functions: call them from a thread.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import secrets
import stat
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path

from interpreter.core.errors import SandboxStartError
from interpreter.runtime import linux, loop
from interpreter.runtime.images import ID_SHIFT

log = logging.getLogger(__name__)

IMAGE = "disk.img"
MOUNT = "disk"
FORMATS = "disks"  # in the service's home: one formatted file system per size
KEPT_FORMATS = 4  # sizes kept formatted (the default one, and the last few others asked for)
BYTES_PER_INODE = 16384
# noinit_itable: the image is new and sparse (its inode tables read as zeros already), so the
# kernel's background zeroing of them would only write ~1/64 of the disk size for nothing.
_MOUNT_DATA = "discard,noinit_itable"
# ^resize_inode: no blocks reserved to grow it (its size is fixed), which were 4 MB of zeros
# written for a 10 GiB disk; metadata_csum_seed: its UUID can change without rewriting every
# checksum (FS_IOC_SETFSUUID); it needs metadata_csum, named too (an older mke2fs.conf may not
# turn it on).
_FEATURES = "^resize_inode,metadata_csum,metadata_csum_seed"
FS_IOC_SETFSUUID = 0x4008662C  # _IOW('f', 44, struct fsuuid): Linux 6.0
_formatting = threading.Lock()


def inodes_for(disk_mb: int) -> int:
    return disk_mb * (2**20 // BYTES_PER_INODE)


def layer_dirs(folder: Path) -> tuple[Path, Path]:
    """The overlay's upper and work directories of the sandbox in ``folder``. A sandbox made
    before disks were its own keeps its layer in its folder (no limit) until it is killed."""
    legacy = folder / "upper"
    if legacy.is_dir() and not (folder / IMAGE).exists():
        return legacy, folder / "work"
    return folder / MOUNT / "upper", folder / MOUNT / "work"


def create(folder: Path, disk_mb: int, formats: Path) -> None:
    """Make the sandbox's disk (a copy of the size's formatted file system, in ``formats``)
    and mount it."""
    source = _formatted(formats, disk_mb)
    # Copied under another name, then renamed: a copy cut short (ENOSPC, a crash) is never
    # taken for the sandbox's disk by a later boot on its kept files (``exists``).
    new = folder / f"{IMAGE}.new"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        image = os.open(new, flags, 0o600)
        try:
            _copy_sparse(source, image)
        finally:
            os.close(image)
        os.rename(new, folder / IMAGE)
    finally:
        os.close(source)
        new.unlink(missing_ok=True)
    mount(folder)
    _new_uuid(folder / MOUNT)


def exists(folder: Path) -> bool:
    return (folder / IMAGE).is_file()


def mount(folder: Path) -> None:
    """Mount the disk (if it is not) with the layer's directories in it, upper/ the sandbox's."""
    target = folder / MOUNT
    if exists(folder) and not linux.is_mounted(target):
        target.mkdir(mode=0o700, exist_ok=True)
        mount_image(folder / IMAGE, target, "the sandbox's disk")
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


def mount_image(image: Path, target: Path, what: str) -> None:
    """Loop-mount the ext4 file system in ``image`` on ``target`` (nosuid, nodev; space given
    back on delete): a sandbox's disk, a volume's (volumes.py)."""
    try:
        loop.mount(image, target, "ext4", loop.MS_NOSUID | loop.MS_NODEV, _MOUNT_DATA)
    except OSError as exc:
        raise SandboxStartError(f"{what} could not be mounted: {exc}") from exc


def _mkfs_argv(disk_mb: int) -> list[str]:
    return [
        "mkfs.ext4", "-q", "-F",
        "-m", "0",  # no blocks kept for host root: root inside is not host root
        "-N", str(inodes_for(disk_mb)),
        "-O", _FEATURES,
        "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
    ]  # fmt: skip


def _formatted(formats: Path, disk_mb: int) -> int:
    """A read-only descriptor of the formatted file system of this size, made if need be (once:
    formatted under a temporary name, then renamed)."""
    argv = _mkfs_argv(disk_mb)
    key = hashlib.sha256("\0".join(argv).encode()).hexdigest()[:12]  # other options: another
    path = formats / f"{disk_mb}-{key}.img"
    with _formatting:
        fd = _open_formatted(path, disk_mb)
        if fd is not None:
            return fd
        formats.mkdir(mode=0o700, exist_ok=True)
        _forget_formats(formats, keep=KEPT_FORMATS - 1)
        new = formats / f".{path.name}.{secrets.token_hex(4)}.new"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(new, flags, 0o400)
            try:
                os.ftruncate(fd, disk_mb * 2**20)
                _run(*argv, str(new))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(new, path)
        finally:
            new.unlink(missing_ok=True)
        fd = _open_formatted(path, disk_mb)
    if fd is None:
        raise SandboxStartError(f"the formatted disk {path} cannot be read")
    return fd


def _open_formatted(path: Path, disk_mb: int) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        path.unlink()  # a link: not what this module makes
        return None
    try:
        info = os.fstat(fd)
        ours = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
        if ours and info.st_size == disk_mb * 2**20:
            os.utime(fd)  # used now: the least recently used sizes are the ones removed
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)  # not what this module makes: made again
    path.unlink()
    return None


def _forget_formats(formats: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recently used formatted sizes (any size can be asked
    for, each one's metadata is kept on the host's disk), and what a crash left half made."""
    kept = []
    for entry in os.scandir(formats):
        if entry.name.endswith(".new"):
            if entry.stat(follow_symlinks=False).st_mtime < time.time() - 600:
                os.unlink(entry.path)
        elif entry.name.endswith(".img"):
            kept.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
    for _, path in sorted(kept, reverse=True)[keep:]:
        os.unlink(path)


def _copy_sparse(source: int, dest: int) -> None:
    """Copy what ``source`` holds, its holes left holes (the metadata of a formatted file
    system, ~200 KB of 10 GiB)."""
    size = os.fstat(source).st_size
    os.ftruncate(dest, size)
    offset = 0
    while offset < size:
        try:
            start = os.lseek(source, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: nothing but a hole to the end
            return
        end = os.lseek(source, start, os.SEEK_HOLE)
        while start < end:
            chunk = os.pread(source, min(end - start, 2**20), start)
            if not chunk:
                return
            start += os.pwrite(dest, chunk, start)
        offset = end


def _new_uuid(mounted: Path) -> None:
    """Give the mounted file system a UUID of its own (a copy has its formatted original's)."""
    fd = os.open(mounted, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, FS_IOC_SETFSUUID, struct.pack("=II16s", 16, 0, uuid.uuid4().bytes))
    except OSError as exc:  # a kernel before 6.0: it keeps the shared one (see above)
        log.debug("disk %s keeps its formatted original's UUID: %s", mounted, exc)
    finally:
        os.close(fd)


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SandboxStartError(f"{argv[0]} failed: {result.stderr.strip()[-500:]}")
