"""Volumes on this host: each one a file system of its own, bound into the sandboxes that mount it.

A volume lives in ``HOME/volumes/<id>/``: ``volume.img``, a sparse ext4 image of the volume's
size (as a sandbox's disk, ``disk.py``: the kernel bounds it, a write past it is ENOSPC for
whoever writes, and nothing else fills), loop-mounted at ``data/``. The root of that file
system belongs to ``user`` (uid 1000 inside). A sandbox gets ``data/`` as a bind mount at the
path it asked for (nsjail ``--bindmount``); CRIU treats that mount as external, as the run
folder, so a paused sandbox's mounts come back at its resume (``criu.py``).

What is under ``data/`` is written by sandboxes: the host reads and writes it only through
no-follow descriptors (``service/volume_files.py``). The image file itself is reached by no
sandbox. Ids are the service's (``vol-`` and hex), never a client's path.

Blocking functions: call them from a thread.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

from interpreter.core.config import Settings
from interpreter.core.errors import SandboxStartError
from interpreter.core.sandbox_fs import remove_tree
from interpreter.runtime import disk, linux
from interpreter.runtime.images import ID_SHIFT

IMAGE = "volume.img"
DATA = "data"
USER_ID = 1000  # `user` inside: owns the volume's root
VOLUME_ID = re.compile(r"^vol-[0-9a-f]{16}$")
_MOUNTING = threading.Lock()


def root(settings: Settings) -> Path:
    """``HOME/volumes``: root's, passable by the jails' root (nsjail binds as that id)."""
    path = settings.home / "volumes"
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, 0, ID_SHIFT, follow_symlinks=False)
    os.chmod(path, 0o710, follow_symlinks=False)
    return path


def folder(settings: Settings, volume_id: str) -> Path:
    if not VOLUME_ID.match(volume_id):
        raise ValueError(f"not a volume id: {volume_id!r}")
    return root(settings) / volume_id


def data(settings: Settings, volume_id: str) -> Path:
    """The volume's mounted root on the host (mounted first if it is not, e.g. after a
    reboot)."""
    home = folder(settings, volume_id)
    target = home / DATA
    with _MOUNTING:  # launches, the content API and usage, in threads: one mount, not two
        if not linux.is_mounted(target):
            if not (home / IMAGE).is_file():
                raise SandboxStartError(f"volume {volume_id} has no image")
            target.mkdir(mode=0o755, exist_ok=True)
            disk.mount_image(home / IMAGE, target, f"volume {volume_id}")
    return target


def create(settings: Settings, volume_id: str, size_mb: int) -> None:
    """Make the volume's image (formatted) and mount it, its root ``user``'s."""
    home = folder(settings, volume_id)
    home.mkdir(mode=0o710)
    os.chown(home, 0, ID_SHIFT, follow_symlinks=False)
    image = home / IMAGE
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(image, flags, 0o600)
    try:
        os.ftruncate(fd, size_mb * 2**20)
    finally:
        os.close(fd)
    try:
        _run(
            "mkfs.ext4", "-q", "-F", "-m", "0",
            "-N", str(disk.inodes_for(size_mb)),
            "-E", f"lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner="
            f"{ID_SHIFT + USER_ID}:{ID_SHIFT + USER_ID}",
            str(image),
        )  # fmt: skip
        top = data(settings, volume_id)
        os.rmdir(top / "lost+found")  # e2fsck makes it again if it needs one
        os.chmod(top, 0o755)
    except BaseException:
        delete(settings, volume_id)
        raise


def delete(settings: Settings, volume_id: str) -> None:
    """Unmount the volume (its loop device goes with it) and remove its image."""
    home = folder(settings, volume_id)
    with _MOUNTING:  # no data() mounts it again between the two
        linux.unmount(home / DATA)
        (home / IMAGE).unlink(missing_ok=True)
    remove_tree(home)


def usage(settings: Settings, volume_id: str) -> tuple[int, int]:
    """Bytes used and the volume's size."""
    stats = os.statvfs(data(settings, volume_id))
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize, stats.f_blocks * stats.f_frsize


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SandboxStartError(f"{argv[0]} failed: {result.stderr.strip()[-500:]}")
