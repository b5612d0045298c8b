"""Issue 19: a sandbox's disk is a copy of a file system formatted once per size, loop-mounted
in-process; each keeps the guarantees a fresh mkfs gave (its size, its own UUID, space given
back, no loop device left behind)."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from interpreter.core.errors import SandboxStartError
from interpreter.runtime import disk, loop

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")
FS_IOC_GETFSUUID = 0x8008662C


def fs_uuid(mounted: Path) -> uuid.UUID:
    fd = os.open(mounted, os.O_RDONLY | os.O_DIRECTORY)
    try:
        answer = fcntl.ioctl(fd, FS_IOC_GETFSUUID, struct.pack("=II16s", 16, 0, bytes(16)))
    finally:
        os.close(fd)
    return uuid.UUID(bytes=answer[8:24])


def loop_backing_files() -> set[str]:
    found = set()
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            found.add(backing.read_text().strip())
        except OSError:
            pass  # detached meanwhile
    return found


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    made: list[Path] = []

    def folder(name: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        made.append(path)
        return path

    yield folder
    for path in made:
        disk.unmount(path)


def test_disks_are_copies_each_its_own(tmp_path: Path, folders: Callable[[str], Path]) -> None:
    formats = tmp_path / "disks"
    a, b = folders("a"), folders("b")
    disk.create(a, 256, formats)
    disk.create(b, 256, formats)
    assert len(list(formats.glob("*.img"))) == 1  # formatted once
    for folder in (a, b):
        assert 230 * 2**20 < disk.total(folder) <= 256 * 2**20  # less ext4's own
        assert os.statvfs(folder / disk.MOUNT).f_files == disk.inodes_for(256)
        assert (folder / disk.IMAGE).stat().st_blocks * 512 < 2**20  # sparse: metadata only
        assert (folder / "disk" / "upper").stat().st_uid != 0  # the sandbox's
    assert fs_uuid(a / disk.MOUNT) != fs_uuid(b / disk.MOUNT)
    (a / disk.MOUNT / "upper" / "file").write_bytes(b"a's")
    assert not (b / disk.MOUNT / "upper" / "file").exists()


def test_space_is_given_back_and_the_device_goes(
    tmp_path: Path, folders: Callable[[str], Path]
) -> None:
    a = folders("a")
    disk.create(a, 256, tmp_path / "disks")
    image = a / disk.IMAGE
    assert str(image) in loop_backing_files()
    data = a / disk.MOUNT / "upper" / "data"
    data.write_bytes(os.urandom(8 << 20))
    os.sync()
    assert image.stat().st_blocks * 512 > 8 << 20
    data.unlink()
    os.sync()
    assert image.stat().st_blocks * 512 < 4 << 20  # discard: the image's holes again
    disk.unmount(a)
    for _ in range(200):  # the kernel detaches an autoclear device once its last user is gone
        if str(image) not in loop_backing_files():
            break
        time.sleep(0.01)
    assert str(image) not in loop_backing_files()


def test_a_failed_mount_leaves_no_device(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / disk.IMAGE).write_bytes(bytes(2**20))  # not a file system
    with pytest.raises(SandboxStartError):
        disk.mount(folder)
    assert str(folder / disk.IMAGE) not in loop_backing_files()


def test_a_copy_cut_short_leaves_no_disk(tmp_path: Path) -> None:
    # The sandbox's folder on a file system too small for the formatted metadata: ENOSPC.
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        folder = small / "sandbox"
        folder.mkdir()
        with pytest.raises(OSError, match="No space left"):  # ~160 KB of metadata to copy
            disk.create(folder, 2048, tmp_path / "disks")
        assert os.listdir(folder) == []  # nothing a later boot would take for its disk
        assert not disk.exists(folder)
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_formatted_sizes_are_few_and_checked(
    tmp_path: Path, folders: Callable[[str], Path]
) -> None:
    formats = tmp_path / "disks"
    for size in range(64, 64 + 4 * (disk.KEPT_FORMATS + 1), 4):
        disk.create(folders(f"s{size}"), size, formats)
    assert len(list(formats.glob("*.img"))) == disk.KEPT_FORMATS
    (kept,) = formats.glob(f"{64 + 4 * disk.KEPT_FORMATS}-*.img")
    os.truncate(kept, 2**20)  # not what this module makes: made again, not used
    again = folders("again")
    disk.create(again, 64 + 4 * disk.KEPT_FORMATS, formats)
    assert kept.stat().st_size == (64 + 4 * disk.KEPT_FORMATS) * 2**20
    assert disk.total(again) > 50 * 2**20


def test_a_kernel_without_loop_configure(
    tmp_path: Path, folders: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "LOOP_CONFIGURE", 0x4CFF)  # unknown here: LOOP_SET_FD instead
    a = folders("a")
    disk.create(a, 64, tmp_path / "disks")
    assert str(a / disk.IMAGE) in loop_backing_files()


def test_a_disk_still_in_use_is_mounted_again_not_twice(
    tmp_path: Path, folders: Callable[[str], Path]
) -> None:
    """Unmounted while a file on it is open (as a dying sandbox's mounts are released a moment
    after it): mounted again, it is the same file system, what it holds unwritten included."""
    a = folders("a")
    disk.create(a, 64, tmp_path / "disks")
    with open(a / disk.MOUNT / "upper" / "kept", "w") as kept:
        kept.write("not written out yet")
        kept.flush()
        disk.unmount(a)
        disk.mount(a)
        assert (a / disk.MOUNT / "upper" / "kept").read_text() == "not written out yet"
        assert sum(str(a / disk.IMAGE) == b for b in loop_backing_list()) == 1


def loop_backing_list() -> list[str]:
    return [
        backing.read_text().strip()
        for backing in Path("/sys/block").glob("loop*/loop/backing_file")
        if backing.exists()
    ]
