"""Limits on shared resources (issue 11, item 3): disk space and inodes, TCP buffers, and the
kernel's per-user budgets, each attacked from inside a real sandbox."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from interpreter_sdk import Sandbox

from ..conftest import Server
from .test_bombs import next_run_works

SandboxFactory = Callable[..., Sandbox]

FILL_DISK = "f = open('/home/user/fill', 'wb')\nwhile True:\n    f.write(b'x' * 2**20)"
MANY_FILES = """
import os
os.makedirs('/tmp/many', exist_ok=True)
for i in range(10**6):
    open(f'/tmp/many/{i}', 'w').close()
"""
# Loopback connections whose sender writes until the kernel says EAGAIN, nobody reading.
TCP_FLOOD = """
import socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(4096)
held, queued = [], 0
for _ in range(1500):
    client = socket.create_connection(server.getsockname())
    held.append((client, server.accept()[0]))
    client.setblocking(False)
    try:
        while True:
            queued += client.send(b"x" * 2**18)
    except BlockingIOError:
        pass
print(queued >> 20)
"""
INOTIFY_FLOOD = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fds = []
while (fd := libc.inotify_init()) >= 0:
    fds.append(fd)
print(len(fds), os.strerror(ctypes.get_errno()))
"""
# Pipes with 1 MiB buffers, each filled: more than the 64 MiB Linux allows one user by default.
PIPE_FLOOD = """
import fcntl, os
pipes = []
for _ in range(100):
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 2**20)
    os.write(w, b"x" * 2**20)
    pipes.append((r, w))
print(len(pipes))
"""
BIG_PIPE = """
import fcntl, os
r, w = os.pipe()
print(fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 2**20))
"""


def test_disk_fill_is_enospc_inside_and_takes_no_more_of_the_host_disk(
    sandbox_factory: SandboxFactory, server: Server
) -> None:
    sandbox = sandbox_factory(disk_mb=256)
    assert sandbox.get_info().disk_mb == 256
    image = server.home / "sandboxes" / sandbox.sandbox_id / "disk.img"
    df = sandbox.commands.run("df -BM --output=size / | tail -1").stdout
    assert 200 <= int(df.strip().rstrip("M")) <= 256  # the limit, as code inside sees it
    execution = sandbox.run_code(FILL_DISK, timeout=60)
    assert execution.error is not None
    assert "No space left on device" in execution.error.value
    # The host's disk gave the sandbox its limit and no more, and gets it back on delete.
    assert 200 * 2**20 < allocated(image) <= 256 * 2**20
    sandbox.run_code("try:\n    f.close()\nexcept OSError:\n    pass")  # its buffer can't flush
    sandbox.commands.run("rm /home/user/fill && sync")
    deadline = time.monotonic() + 30  # ext4 discards the freed blocks when its journal commits
    while allocated(image) > 64 * 2**20 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert allocated(image) < 64 * 2**20
    next_run_works(sandbox)
    sandbox.files.write("/home/user/after.txt", "written")
    assert sandbox.files.read("/home/user/after.txt") == "written"


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def test_inode_exhaustion_is_enospc_inside(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(disk_mb=256)
    execution = sandbox.run_code(MANY_FILES, timeout=120)
    assert execution.error is not None
    assert "No space left on device" in execution.error.value
    inodes = sandbox.commands.run("df --output=itotal / | tail -1").stdout
    assert int(inodes) == 256 * 64  # one per 16 KiB
    sandbox.commands.run("rm -rf /tmp/many", timeout=60)
    next_run_works(sandbox)


def test_tcp_buffers_count_against_the_sandbox(sandbox_factory: SandboxFactory) -> None:
    # Without a TCP limit cgroup v1 charges none of this (3000 such connections: 2.3 GB).
    sandbox = sandbox_factory(memory_mb=256)
    execution = sandbox.run_code(TCP_FLOOD, timeout=120)
    assert execution.error is None, execution.error
    queued_mib = int("".join(execution.logs.stdout))
    assert queued_mib < 256, f"{queued_mib} MiB queued on loopback by a 256 MiB sandbox"
    next_run_works(sandbox)


def test_one_sandbox_exhausting_inotify_leaves_the_others_watches(
    sandbox_factory: SandboxFactory,
) -> None:
    greedy, other = sandbox_factory(), sandbox_factory()
    execution = greedy.run_code(INOTIFY_FLOOD, timeout=60)
    count, error = "".join(execution.logs.stdout).split(" ", 1)
    assert int(count) == 128, "its own limit, Linux's default per user"
    assert "Too many open files" in error
    # Another sandbox's watch_dir (the agent's inotify) and the host's own still work.
    handle = other.files.watch_dir("/home/user")
    other.files.write("/home/user/seen.txt", "x")
    watchdog = threading.Timer(20, handle.stop)
    watchdog.start()
    try:
        assert any(e.name == "/home/user/seen.txt" for e in handle.events())
    finally:
        watchdog.cancel()
        handle.stop()
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init()
    assert fd >= 0, os.strerror(ctypes.get_errno())
    os.close(fd)
    next_run_works(greedy)


def test_one_sandbox_pipes_leave_the_others_pipe_buffers(
    sandbox_factory: SandboxFactory,
) -> None:
    greedy, other = sandbox_factory(memory_mb=512), sandbox_factory()
    execution = greedy.run_code(PIPE_FLOOD, timeout=60)
    assert execution.error is None, execution.error  # its pipes count against its memory
    assert "".join(execution.logs.stdout).strip() == "100"
    execution = other.run_code(BIG_PIPE, timeout=60)
    assert execution.error is None, execution.error  # EPERM when the uid's budget is shared
    assert "".join(execution.logs.stdout).strip() == str(2**20)
