"""A volume's content as the host reads and writes it (E2B's volume content API).

Everything under a volume's root is written by sandboxes: any entry may be a link to a host path,
a FIFO, a tree too deep or too wide to walk. So a path is split into single names (``..``
refused), every folder is opened with ``O_NOFOLLOW`` relative to its parent's descriptor
(``core.sandbox_fs.open_dir``), the last name too, and a link anywhere is refused, never
followed; files are opened ``O_NONBLOCK`` and used only if they are regular files. A read
stops at the size the file had when it was opened (a sandbox appending cannot make it
endless); a listing stops at ``MAX_ENTRIES``. Uploads go to a new file beside the target,
then take its name (``force``: replacing it, a link itself and not what it points at).

Owners are the sandboxes' ids (0 root, 1000 ``user``): host id = ``ROOT_HOST_ID`` + id.
Blocking functions: call them from a thread.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import secrets
import stat
import subprocess
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from interpreter.core.errors import (
    ConflictError,
    InvalidRequestError,
    VolumeFullError,
    VolumePathNotFoundError,
)
from interpreter.core.sandbox_fs import DIR_FLAGS, open_dir
from interpreter.runtime.base import ROOT_HOST_ID

MAX_ENTRIES = 10_000
MAX_DEPTH = 64
MAX_PATH = 4096
CHUNK = 1 << 20
MAX_ID = 65535
NOBODY = 65534
USER_ID = 1000  # what the content API writes as, unless told: sandboxes' code runs as `user`
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class VolumeEntry:
    name: str
    type: str  # file, directory, symlink, unknown (E2B's)
    path: str
    size: int
    mode: int  # permission bits
    uid: int
    gid: int
    atime: datetime
    mtime: datetime
    ctime: datetime
    target: str | None = None  # a link's, as written (never followed)


def parts_of(path: str) -> list[str]:
    """``path`` inside the volume as single names (``/`` and empty: the root)."""
    if len(path) > MAX_PATH or "\0" in path:
        raise InvalidRequestError("path is too long or holds a NUL byte")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidRequestError(f"path {path!r} has '..': paths stay inside the volume")
    if any(len(p.encode()) > 255 for p in parts):
        raise InvalidRequestError("a name in path is longer than 255 bytes")
    return parts


def checked_owner(value: int | None, default: int) -> int:
    if value is None:
        return default
    if not 0 <= value <= MAX_ID:
        raise InvalidRequestError(f"uid/gid must be 0 to {MAX_ID}, got {value}")
    return value


def checked_mode(value: int | None, default: int) -> int:
    if value is None:
        return default
    if not 0 <= value <= 0o7777:
        raise InvalidRequestError(f"mode must be 0 to 0o7777, got {value:#o}")
    return value & 0o1777  # no setuid/setgid bits (the volume is mounted nosuid anyway)


class VolumeFiles:
    """One volume's content; ``root`` is its host folder (``Runtime.volume_root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading ------------------------------------------------------------------------------
    def info(self, path: str) -> VolumeEntry:
        parts = parts_of(path)
        if not parts:
            fd = open_dir(self.root)
            try:
                return _entry("/", "/", os.fstat(fd))
            finally:
                os.close(fd)
        with self._parent(parts) as parent:
            return _named_entry(parent, parts[-1], _path(parts))

    def list(self, path: str, depth: int = 1) -> list[VolumeEntry]:
        if not 1 <= depth <= MAX_DEPTH:
            raise InvalidRequestError(f"depth must be 1 to {MAX_DEPTH}, got {depth}")
        parts = parts_of(path)
        entries: list[VolumeEntry] = []

        def walk(fd: int, where: list[str], level: int) -> None:
            # Depth first: descriptors are held along one path only (at most MAX_DEPTH), however
            # many folders a sandbox made.
            try:
                for name in sorted(_names(fd)):
                    if len(entries) >= MAX_ENTRIES:
                        raise InvalidRequestError(
                            f"more than {MAX_ENTRIES} entries: list a folder further down "
                            "or with less depth"
                        )
                    entry = _named_entry(fd, name, _path([*where, name]))
                    entries.append(entry)
                    if entry.type == "directory" and level < depth:
                        try:
                            child = os.open(name, DIR_FLAGS, dir_fd=fd)
                        except OSError as exc:
                            if exc.errno in (errno.EMFILE, errno.ENFILE):
                                raise
                            continue  # gone or swapped for a link meanwhile
                        walk(child, [*where, name], level + 1)
            finally:
                os.close(fd)

        walk(self._open_dirs(parts), parts, 1)
        return entries

    def read(self, path: str) -> tuple[int, Generator[bytes, None, None]]:
        """The file's size when opened, and its bytes up to that size in chunks."""
        parts = parts_of(path)
        if not parts:
            raise VolumePathNotFoundError("the volume's root is a folder, not a file")
        with self._parent(parts) as parent:
            fd = _open_entry(parent, parts[-1], _path(parts))
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise VolumePathNotFoundError(f"{_path(parts)} is not a file")
        return info.st_size, _chunks(fd, info.st_size)

    # -- writing ------------------------------------------------------------------------------
    def make_dir(
        self, path: str, uid: int | None, gid: int | None, mode: int | None, force: bool
    ) -> VolumeEntry:
        parts = parts_of(path)
        owner = (checked_owner(uid, USER_ID), checked_owner(gid, USER_ID))
        mode = checked_mode(mode, 0o755)
        if not parts:
            raise ConflictError("the volume's root exists")
        fd = open_dir(self.root)
        try:
            for i, name in enumerate(parts):
                last = i == len(parts) - 1
                made = False
                if last or force:  # force: the missing folders above too
                    try:
                        os.mkdir(name, 0o700, dir_fd=fd)  # its mode once it is its owner's
                        made = True
                    except FileExistsError:
                        if last and not force:
                            raise ConflictError(f"{_path(parts)} exists") from None
                child = _open_dir_at(fd, name, _path(parts[: i + 1]))
                os.close(fd)
                fd = child
                if made:
                    os.fchown(fd, ROOT_HOST_ID + owner[0], ROOT_HOST_ID + owner[1])
                    os.fchmod(fd, mode)
            return _entry(parts[-1], _path(parts), os.fstat(fd))
        finally:
            os.close(fd)

    def write(
        self,
        path: str,
        chunks: Iterator[bytes],
        uid: int | None,
        gid: int | None,
        mode: int | None,
        force: bool,
    ) -> VolumeEntry:
        """Write the file from ``chunks`` (a blocking iterator: run this in a thread)."""
        parts = parts_of(path)
        if not parts:
            raise ConflictError("the volume's root is a folder")
        owner = (checked_owner(uid, USER_ID), checked_owner(gid, USER_ID))
        mode = checked_mode(mode, 0o644)
        name = parts[-1]
        with self._parent(parts) as parent:
            temporary = f".upload-{secrets.token_hex(8)}"
            fd = os.open(temporary, NEW_FILE, 0o600, dir_fd=parent)
            try:
                try:
                    for chunk in chunks:
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view) :]
                    os.fchown(fd, ROOT_HOST_ID + owner[0], ROOT_HOST_ID + owner[1])
                    os.fchmod(fd, mode)
                finally:
                    os.close(fd)
                _take_name(parent, temporary, name, force, _path(parts))
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=parent)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise VolumeFullError("the volume is full (its size limit)") from exc
                raise
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=parent)
                raise
            return _named_entry(parent, name, _path(parts))

    def update(self, path: str, uid: int | None, gid: int | None, mode: int | None) -> VolumeEntry:
        parts = parts_of(path)
        if parts:
            with self._parent(parts) as parent:
                fd = _open_entry(parent, parts[-1], _path(parts))
        else:
            fd = open_dir(self.root)
        try:
            info = os.fstat(fd)
            if uid is not None or gid is not None:
                os.fchown(
                    fd,
                    -1 if uid is None else ROOT_HOST_ID + checked_owner(uid, 0),
                    -1 if gid is None else ROOT_HOST_ID + checked_owner(gid, 0),
                )
            if mode is not None:
                os.fchmod(fd, checked_mode(mode, 0))
            info = os.fstat(fd)
            return _entry(parts[-1] if parts else "/", _path(parts), info)
        finally:
            os.close(fd)

    def remove(self, path: str) -> None:
        parts = parts_of(path)
        if not parts:
            raise InvalidRequestError("the volume's root cannot be removed (destroy the volume)")
        with self._parent(parts) as parent:
            name = parts[-1]
            try:
                info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                raise VolumePathNotFoundError(f"{_path(parts)} not found") from None
            if not stat.S_ISDIR(info.st_mode):
                os.unlink(name, dir_fd=parent)
                return
            # A tree the sandbox wrote, of any depth: rm through the checked folder's own
            # descriptor (the kernel resolves /proc/self/fd/N to it; rm follows no link below).
            subprocess.run(
                ["rm", "-rf", "--one-file-system", "--", f"/proc/self/fd/{parent}/{name}"],
                pass_fds=(parent,),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
            with contextlib.suppress(FileNotFoundError):
                os.stat(name, dir_fd=parent, follow_symlinks=False)
                raise ConflictError(f"{_path(parts)} could not be removed entirely")

    # -- walking --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _parent(self, parts: builtins.list[str]) -> Iterator[int]:
        fd = self._open_dirs(parts[:-1])
        try:
            yield fd
        finally:
            os.close(fd)

    def _open_dirs(self, parts: builtins.list[str]) -> int:
        fd = open_dir(self.root)
        try:
            for i, name in enumerate(parts):
                child = _open_dir_at(fd, name, _path(parts[: i + 1]))
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd


def _take_name(parent: int, temporary: str, name: str, force: bool, shown: str) -> None:
    if force:
        try:
            os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
        except IsADirectoryError:
            raise ConflictError(f"{shown} is a folder") from None
        return
    try:  # atomically: only if nothing has the name
        os.link(temporary, name, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
    except FileExistsError:
        raise ConflictError(f"{shown} exists (force=true replaces it)") from None
    os.unlink(temporary, dir_fd=parent)


def _open_dir_at(fd: int, name: str, shown: str) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        raise VolumePathNotFoundError(f"{shown} not found") from None
    except OSError as exc:
        # O_DIRECTORY|O_NOFOLLOW on a link fails with ENOTDIR: tell the two apart.
        if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and _is_link(fd, name)):
            raise InvalidRequestError(f"{shown} is a link: links are not followed") from None
        if exc.errno == errno.ENOTDIR:
            raise VolumePathNotFoundError(f"{shown} is not a folder") from None
        raise


def _is_link(fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open_entry(parent: int, name: str, shown: str) -> int:
    try:
        return os.open(name, FILE_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        raise VolumePathNotFoundError(f"{shown} not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidRequestError(f"{shown} is a link: links are not followed") from None
        if exc.errno in (errno.ENXIO, errno.EACCES, errno.EPERM):  # a socket, a device
            raise InvalidRequestError(f"{shown} is not a file or folder") from None
        raise


def _names(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return [e.name for e in entries]


def _named_entry(parent: int, name: str, shown: str) -> VolumeEntry:
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        raise VolumePathNotFoundError(f"{shown} not found") from None
    target = os.readlink(name, dir_fd=parent) if stat.S_ISLNK(info.st_mode) else None
    return _entry(name, shown, info, target)


def _entry(name: str, path: str, info: os.stat_result, target: str | None = None) -> VolumeEntry:
    kind = (
        "directory"
        if stat.S_ISDIR(info.st_mode)
        else "file"
        if stat.S_ISREG(info.st_mode)
        else "symlink"
        if stat.S_ISLNK(info.st_mode)
        else "unknown"
    )
    return VolumeEntry(
        name=name, type=kind, path=path, size=info.st_size, mode=stat.S_IMODE(info.st_mode),
        uid=_inside_id(info.st_uid), gid=_inside_id(info.st_gid),
        atime=_time(info.st_atime), mtime=_time(info.st_mtime), ctime=_time(info.st_ctime),
        target=target,
    )  # fmt: skip


def _inside_id(host_id: int) -> int:
    inside = host_id - ROOT_HOST_ID
    return inside if 0 <= inside <= MAX_ID else NOBODY


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _path(parts: list[str]) -> str:
    return "/" + "/".join(parts)


def _chunks(fd: int, size: int) -> Generator[bytes, None, None]:
    try:
        left = size
        while left > 0:
            chunk = os.read(fd, min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
