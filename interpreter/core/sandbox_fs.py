"""The host's way into a sandbox's folder: it follows nothing the sandbox can write.

A sandbox's folder is the host's, but what is under it (``run/``, ``run/user/``, ``upper/``) is
written by the sandbox's root or user: any entry there may be a symlink to a host path, a FIFO,
a tree thousands of levels deep. So the host opens the components below a host-controlled
folder one by one, each with ``O_NOFOLLOW`` relative to its parent's descriptor, and reaches
its sockets through a descriptor of the checked socket inode itself, never by a name the
sandbox could swap (see ``SandboxSocket``). Trees are removed and measured iteratively.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpcore
import httpx

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class UnsafePathError(OSError):
    """An entry in a sandbox's folder is not what the host expects (a link, another type, another
    owner): the host does not use it."""


def _name(part: str) -> str:
    if not part or part in (".", "..") or "/" in part or "\0" in part:
        raise UnsafePathError(errno.EINVAL, f"not a single path component: {part!r}")
    return part


def open_dir(base: Path, parts: Sequence[str] = ()) -> int:
    """A descriptor of the directory ``base/parts[0]/parts[1]/...``: ``base`` is the host's (its
    last component is not followed either), each of ``parts`` is opened relative to its parent
    without following a link. OSError (ELOOP, ENOTDIR) if one is a link or not a directory."""
    fd = os.open(base, DIR_FLAGS)
    try:
        for part in parts:
            child = os.open(_name(part), DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


class SandboxSocket:
    """A unix socket in a sandbox's folder (``folder/parts...``), bound there by one of the
    sandbox's ids (``owner``, a host uid).

    Each connect opens the socket's directories no-follow from ``folder``, then the socket's own
    inode with ``O_PATH | O_NOFOLLOW``, checks that descriptor is a socket owned by ``owner``,
    and connects through ``/proc/self/fd/N`` of it: the kernel resolves that magic link to the
    very inode checked, so there is no window between the check and the connect. A link, a
    regular file or a socket of anyone else there is refused (UnsafePathError); the worst the
    sandbox can do is point the host at another socket it bound itself in that folder."""

    def __init__(self, folder: Path, parts: Sequence[str], owner: int) -> None:
        if not parts:
            raise ValueError("a socket needs a name")
        self.folder = folder
        self.parts = tuple(_name(part) for part in parts)
        self.owner = owner

    @property
    def path(self) -> Path:
        """For messages only: never open it."""
        return self.folder.joinpath(*self.parts)

    def __repr__(self) -> str:
        return f"SandboxSocket({str(self.path)!r}, owner={self.owner})"

    def open(self) -> int:
        """An ``O_PATH`` descriptor of the checked socket (the caller closes it)."""
        dir_fd = open_dir(self.folder, self.parts[:-1])
        try:
            fd = os.open(self.parts[-1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        try:
            info = os.fstat(fd)
            if not stat.S_ISSOCK(info.st_mode):
                raise UnsafePathError(errno.ENOTSOCK, f"{self.path} is not a socket")
            if info.st_uid != self.owner:
                raise UnsafePathError(
                    errno.EPERM, f"{self.path} belongs to uid {info.st_uid}, not {self.owner}"
                )
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextmanager
    def connect_path(self) -> Iterator[str]:
        """A path to connect to that reaches only the checked socket (valid inside the block)."""
        fd = self.open()
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)

    def exists(self) -> bool:
        """Whether the socket is there and is the sandbox's."""
        try:
            os.close(self.open())
        except OSError:
            return False
        return True


class _CheckedUnixBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with every unix-socket connect made through a SandboxSocket."""

    def __init__(self, socket: SandboxSocket) -> None:
        self._socket = socket
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("only the sandbox's unix socket is reachable")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            with self._socket.connect_path() as checked:
                return await self._inner.connect_unix_socket(checked, timeout, socket_options)
        except OSError as exc:  # a refused entry: as if nothing listened there
            raise httpcore.ConnectError(str(exc)) from exc

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def unix_transport(socket: SandboxSocket) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes to ``socket``, checked at each connect.
    Plain HTTP: no TLS, so no CA bundle to load (20-900 ms per client)."""
    transport = httpx.AsyncHTTPTransport(verify=False, uds=str(socket.path))
    # httpx 0.28 does not take a network backend: its pool is rebuilt with the same settings
    # (those httpx gives it for a unix socket) and ours. tests/security checks it is used.
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001
        ssl_context=None,
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        http1=True,
        http2=False,
        uds=str(socket.path),
        network_backend=_CheckedUnixBackend(socket),
    )
    return transport


def remove_tree(path: Path) -> None:
    """Remove a folder a sandbox wrote into, however deep (Python's recursive rmtree raises
    RecursionError past ~1,000 levels), following no link and crossing into no mount (``rm -rf
    --one-file-system``: 5,000 levels in ~0.6 s). Errors are left for the caller to see in
    ``path.exists()``."""
    if not os.path.lexists(path):
        return
    subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def walk_files(top: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry under ``top`` (not ``top`` itself) with its lstat, iteratively: no link is
    followed, so no loop; depth costs no recursion. Entries that cannot be read (gone meanwhile,
    a path longer than PATH_MAX) are skipped."""
    stack = [str(top)]
    while stack:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                yield entry.path, info
                if stat.S_ISDIR(info.st_mode):
                    stack.append(entry.path)
