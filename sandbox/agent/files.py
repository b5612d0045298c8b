"""File operations inside the sandbox, performed with the file-system identity of a user.

The agent runs as root inside the jail; each operation runs in a worker thread whose fsuid/fsgid
(per thread on Linux) are switched to the requested user, so permissions are checked and new
files are owned exactly as if that user acted.
"""

from __future__ import annotations

import ctypes
import errno
import grp
import os
import pwd
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")
USERS = {"user": 1000, "root": 0}


class FileError(Exception):
    """An operation failed in a way the caller should hear about, with an HTTP status."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    uid = USERS.get(user)
    if uid is None:
        raise FileError(400, "InvalidRequestError", f"unknown user {user!r}: use 'user' or 'root'")
    _libc.setfsgid(uid)
    _libc.setfsuid(uid)
    try:
        yield
    finally:
        _libc.setfsuid(0)
        _libc.setfsgid(0)


def as_user(user: str, operation: Callable[[], T]) -> T:
    with acting_as(user), translated_errors():
        return operation()


# OSError subclass -> (HTTP status, error type, message prefix); the first match wins.
ERRORS: list[tuple[type[OSError], int, str, str]] = [
    (FileNotFoundError, 404, "FileNotFoundError", "no such file or directory"),
    (IsADirectoryError, 400, "IsADirectoryError", "is a directory"),
    (NotADirectoryError, 400, "NotADirectoryError", "not a directory"),
    (PermissionError, 403, "PermissionError", "permission denied"),
    (FileExistsError, 409, "FileExistsError", "already exists"),
    (OSError, 400, "OSError", "failed"),
]


@contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        status, kind, prefix = next((s, k, p) for c, s, k, p in ERRORS if isinstance(exc, c))
        detail = exc.strerror if kind == "OSError" else prefix
        raise FileError(status, kind, f"{detail}: {exc.filename}") from exc


def resolve(path: str) -> str:
    """An absolute, normalized path; relative ones are taken from /home/user."""
    if not path or "\0" in path:
        raise FileError(400, "InvalidRequestError", "path must be a non-empty string without NUL")
    return os.path.normpath(os.path.join("/home/user", path))


def _name(table: Any, ident: int) -> str:
    try:
        return str(table(ident)[0])
    except KeyError:
        return str(ident)


def printable(text: str) -> str:
    """A name that is not valid UTF-8 on disk (surrogate-escaped), shown with U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


METADATA_PREFIX = "user.e2b."  # user metadata of a file, kept as extended attributes
METADATA_KEY = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,200}$")
METADATA_VALUE = re.compile(r"^[\x20-\x7e]{0,4096}$")


def metadata(path: str) -> dict[str, str]:
    """The file's `user.e2b.*` extended attributes (none on symlinks or where unsupported)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found = {}
    for name in names:
        if name.startswith(METADATA_PREFIX):
            try:
                value = os.getxattr(path, name, follow_symlinks=False)
            except OSError:
                continue
            found[printable(name[len(METADATA_PREFIX) :])] = value.decode(errors="replace")
    return found


def replace_metadata(path: str, values: dict[str, str]) -> None:
    """Make ``values`` the file's whole metadata, as E2B's envd does on every upload: keys are
    lower-cased, and ``user.e2b.*`` attributes not among them are removed (an overwritten file
    keeps its extended attributes across O_TRUNC: without this, stale metadata would stay)."""
    for key, value in values.items():
        if not METADATA_KEY.match(key) or not METADATA_VALUE.match(value):
            raise FileError(
                400, "InvalidRequestError", f"invalid metadata {key!r}: token key, ASCII value"
            )
    wanted = {METADATA_PREFIX + key.lower(): value for key, value in values.items()}
    try:
        present = os.listxattr(path)
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.ENODATA):
            raise
        present = []
    for name in present:
        if name.startswith(METADATA_PREFIX) and name not in wanted:
            try:
                os.removexattr(path, name)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.ENODATA):
                    raise
    for name, value in wanted.items():
        os.setxattr(path, name, value.encode())


def link_target(path: str) -> tuple[str | None, str | None, int | None]:
    """What a symlink points at: its absolute, fully resolved path, its type (dir or file) and
    its mode; all None when the link dangles or loops."""
    try:
        resolved = os.path.realpath(path, strict=True)
        info = os.stat(resolved)
    except (OSError, ValueError):
        return None, None, None
    return resolved, "dir" if stat.S_ISDIR(info.st_mode) else "file", info.st_mode


def entry(path: str) -> dict[str, Any]:
    info = os.lstat(path)
    kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
    link = stat.S_ISLNK(info.st_mode)
    if link:
        kind = "symlink"
    resolved, target_type, target_mode = link_target(path) if link else (None, None, None)
    return {
        "name": printable(os.path.basename(path) or "/"),
        "path": printable(path),
        "type": kind,
        "size": info.st_size,
        "mode": info.st_mode,
        "permissions": stat.filemode(info.st_mode),
        "owner": _name(pwd.getpwuid, info.st_uid),
        "group": _name(grp.getgrgid, info.st_gid),
        "modified_time": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(),
        "symlink_target": printable(os.readlink(path)) if link else None,
        "target_type": target_type,
        "resolved_target": printable(resolved) if resolved is not None else None,
        "target_mode": target_mode,
        "metadata": {} if link else metadata(path),
    }


def list_dir(path: str, depth: int) -> list[dict[str, Any]]:
    if depth < 1:
        raise FileError(400, "InvalidRequestError", "depth must be at least 1")
    if not os.path.isdir(path):
        os.lstat(path)  # raises FileNotFoundError if missing
        raise FileError(400, "NotADirectoryError", f"not a directory: {path}")
    found: list[dict[str, Any]] = []

    def walk(folder: str, level: int) -> None:
        for name in sorted(os.listdir(folder)):
            child = os.path.join(folder, name)
            item = entry(child)
            found.append(item)
            if item["type"] == "dir" and level < depth:
                walk(child, level + 1)

    walk(path, 1)
    return found


def make_dir(path: str) -> bool:
    if os.path.isdir(path):
        return False
    os.makedirs(path)
    return True


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def rename(source: str, destination: str) -> dict[str, Any]:
    os.rename(source, destination)
    return entry(destination)


def open_for_read(path: str) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(21, "Is a directory", path)
    return fd


def open_for_write(path: str) -> int:
    parent = os.path.dirname(path)
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise NotADirectoryError(20, "Not a directory", parent)
    os.makedirs(parent, exist_ok=True)
    if os.path.isdir(path):
        raise IsADirectoryError(21, "Is a directory", path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    # E2B's envd chowns what it opened to the writer, so a watcher sees a new file's create,
    # chmod (IN_ATTRIB), write; the owner may re-assert its own ids, anyone else is refused.
    owner = os.fstat(fd)
    try:
        os.fchown(fd, owner.st_uid, owner.st_gid)
    except PermissionError:
        pass
    return fd
