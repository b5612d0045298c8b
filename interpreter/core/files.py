"""Reading files a sandbox can write to, safely from the host."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def read_tail(path: Path, limit: int = 4000) -> str:
    """The end of a regular file: never follows a symlink the sandbox planted, never blocks on
    a FIFO, never reads more than ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return ""
        os.lseek(fd, max(0, info.st_size - limit), os.SEEK_SET)
        return os.read(fd, limit).decode(errors="replace")
    finally:
        os.close(fd)
