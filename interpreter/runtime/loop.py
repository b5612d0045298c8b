"""An image file mounted through a loop device set up in-process.

What ``mount -o loop`` does (util-linux: a free device from ``/dev/loop-control``, the file
bound to it, then mount(2)), without its fork and exec: ~26 ms of a restore's disk under load,
~4 ms this way (BENCHMARKS.md, issue 19). The device is bound with LO_FLAGS_AUTOCLEAR and our
descriptor of it closed once the file system is mounted, so the kernel detaches it when the
file system is unmounted (``linux.unmount``), or at once if the mount fails: as with
``mount -o loop``, no device stays bound to an image. And as it, a device still bound to the
image is mounted again rather than a second one bound (``_bound``).

Blocking functions: call them from a thread.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import time
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A  # Linux 5.8: file and flags bound in one ioctl
LOOP_SET_FD, LOOP_SET_STATUS64, LOOP_CLR_FD = 0x4C00, 0x4C04, 0x4C01  # before it: in two
LOOP_GET_STATUS64 = 0x4C05
LO_FLAGS_AUTOCLEAR = 4
MS_NOSUID, MS_NODEV = 2, 4
# struct loop_config: fd, block_size, then struct loop_info64 (device, inode, rdevice, offset,
# sizelimit; number, encrypt_type, encrypt_key_size, flags; file_name[64], crypt_name[64],
# encrypt_key[32]; init[2]) and reserved[8]: 304 bytes.
_CONFIG = struct.Struct("=II5Q4I64s64s32s2Q8Q")
_INFO = struct.Struct("=5Q4I64s64s32s2Q")
# Another process (a front end, util-linux's mount) may bind the free device between our two
# ioctls: then the next one.
ATTEMPTS = 32


def mount(image: Path, target: Path, fstype: str, flags: int, options: str) -> None:
    """Mount the ``fstype`` file system in ``image`` on ``target``."""
    device, fd = _bound(image) or _attach(image)
    try:
        source, where = device.encode(), str(target).encode()
        if _libc.mount(source, where, fstype.encode(), flags, options.encode()) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {image} on {target}: {os.strerror(err)}")
    finally:
        os.close(fd)  # the mount holds the device now; after a failure this detaches it


def _bound(image: Path) -> tuple[str, int] | None:
    """The loop device still bound to ``image``, if one is, and our descriptor of it (which
    keeps it bound). One is while the file system on it lives on after its unmount (a lazy
    unmount, a dying sandbox's mount namespace released by the kernel a moment later): mounting
    that device again gives that same file system, where a second device would give a second
    one on the same file, without what the first has not written yet (util-linux reuses it
    too)."""
    identity = os.stat(image)
    real = os.path.realpath(image)
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            if backing.read_text().rstrip("\n") != real:
                continue
            fd = os.open(f"/dev/{backing.parent.parent.name}", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue  # detached meanwhile
        try:
            info = _INFO.unpack(fcntl.ioctl(fd, LOOP_GET_STATUS64, bytes(_INFO.size)))
        except OSError:  # ENXIO: detached meanwhile (its file system is gone: written out)
            info = None
        if info is not None and (info[0], info[1]) == (identity.st_dev, identity.st_ino):
            return f"/dev/{backing.parent.parent.name}", fd
        os.close(fd)
    return None


def _attach(image: Path) -> tuple[str, int]:
    """A loop device bound to ``image``, and our descriptor of it."""
    backing = os.open(image, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(ATTEMPTS):
                device = f"/dev/loop{fcntl.ioctl(control, LOOP_CTL_GET_FREE)}"
                try:
                    fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
                except FileNotFoundError:  # just added: its node is on its way
                    time.sleep(0.001)
                    continue
                try:
                    _bind(fd, backing, image)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno != errno.EBUSY:
                        raise
                    continue
                return device, fd
        finally:
            os.close(control)
    finally:
        os.close(backing)  # the device holds the file now
    raise OSError(errno.EBUSY, f"no free loop device for {image}")


def _bind(fd: int, backing: int, image: Path) -> None:
    name = os.fsencode(image)[:63]  # what losetup shows
    info = (0, 0, 0, 0, 0, 0, 0, 0, LO_FLAGS_AUTOCLEAR, name, b"", b"", 0, 0)
    try:
        fcntl.ioctl(fd, LOOP_CONFIGURE, _CONFIG.pack(backing, 0, *info, *(0,) * 8))
        return
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTTY):
            raise
    fcntl.ioctl(fd, LOOP_SET_FD, backing)  # a kernel before 5.8
    try:
        fcntl.ioctl(fd, LOOP_SET_STATUS64, _INFO.pack(*info))
    except BaseException:
        fcntl.ioctl(fd, LOOP_CLR_FD)
        raise
