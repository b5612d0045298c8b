"""An upload's body, from the host's socket to the file by splice(2): the kernel moves the bytes
(socket → pipe → page cache) and no Python code touches them.

Tornado's own body reading copies each piece three times (its read buffer, a chunk buffer, the
bytes handed over) and runs its chunk parser in the event loop: that was most of the agent's
CPU on a 1 GiB upload (BENCHMARKS.md). The host asks for this path with ``Expect:
100-continue``: it sends the body only after the agent's ``100 Continue``, so nothing of it is
in tornado's buffer when the agent takes the socket over. Both framings are read: a
Content-Length, or chunks (parsed here, their lines bounded). Blocking: run it in a thread.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket

PIPE_SIZE = 1 << 20  # bytes the pipe holds (fs.pipe-max-size allows 1 MiB unprivileged)
MAX_LINE = 1024  # a chunk's size line (with extensions), or a trailer's


class BodyError(Exception):
    """The body broke off or was malformed: the host gets no answer, the file stays partial."""


class WriteError(Exception):
    """The file took no more (ENOSPC, EFBIG, ...): the host is answered with ``error``."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class Receiver:
    """Reads one request body from ``sock`` into the file ``fd``."""

    def __init__(self, sock: socket.socket, fd: int) -> None:
        self.sock, self.fd = sock, fd
        self.buffer = b""  # bytes received beyond a chunk's line: the body's first bytes
        self.read, self.write = os.pipe2(os.O_CLOEXEC)
        self.splicing = True
        try:
            fcntl.fcntl(self.write, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass  # a smaller pipe: more, smaller splices

    def close(self) -> None:
        os.close(self.read)
        os.close(self.write)

    def receive(self, length: int | None) -> None:
        """The whole body: ``length`` bytes, or chunks up to the last (empty) one."""
        if length is not None:
            self.copy(length)
            return
        while True:
            line = self.line().split(b";", 1)[0].strip()
            if not line or len(line) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in line):
                raise BodyError(f"bad chunk size {line[:20]!r}")
            size = int(line, 16)
            if size == 0:
                while self.line():  # trailers, up to the empty line
                    pass
                return
            self.copy(size)
            if self.line():
                raise BodyError("a chunk did not end with CRLF")

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise BodyError("an overlong chunk line")
            more = self.sock.recv(4096)
            if not more:
                raise BodyError("the body ended early")
            self.buffer += more
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def copy(self, count: int) -> None:
        """``count`` body bytes to the file: those already received, then from the socket."""
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        self.write_all(taken)
        count -= len(taken)
        while count:
            if self.splicing:
                moved = os.splice(self.sock.fileno(), self.write, min(count, PIPE_SIZE))
                if not moved:
                    raise BodyError("the body ended early")
                self.drain(moved)
            else:
                moved = len(data := self.sock.recv(min(count, PIPE_SIZE)))
                if not moved:
                    raise BodyError("the body ended early")
                self.write_all(data)
            count -= moved

    def drain(self, count: int) -> None:
        """The pipe's ``count`` bytes into the file (copied if the file takes no splice)."""
        while count:
            try:
                count -= os.splice(self.read, self.fd, count)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise WriteError(exc) from exc
                self.splicing = False  # a file system without splice_write: plain writes
                while count:
                    data = os.read(self.read, count)
                    self.write_all(data)
                    count -= len(data)

    def write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            raise WriteError(exc) from exc


def receive(sock: socket.socket, fd: int, length: int | None) -> None:
    """Blocking: the request body from ``sock`` into ``fd``."""
    receiver = Receiver(sock, fd)
    try:
        receiver.receive(length)
    finally:
        receiver.close()
