"""Reading files a sandbox can write to, safely from the host."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from interpreter.core.sandbox_fs import open_dir


def read_tail(path: Path, limit: int = 4000, beneath: Path | None = None) -> str:
    """The end of a regular file: never follows a symlink the sandbox planted, never blocks on
    a FIFO, never reads more than ``limit`` bytes. With ``beneath`` (a host folder ``path`` is
    in), no component of ``path`` below it is followed either (see ``sandbox_fs.open_dir``)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        if beneath is None:
            fd = os.open(path, flags)
        else:
            *parts, name = path.relative_to(beneath).parts
            dir_fd = open_dir(beneath, parts)
            try:
                fd = os.open(name, flags, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
    except (OSError, ValueError):
        return ""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return ""
        os.lseek(fd, max(0, info.st_size - limit), os.SEEK_SET)
        return os.read(fd, limit).decode(errors="replace")
    finally:
        os.close(fd)
