"""Processes inside the sandbox: started as `user` or root, their output kept (bounded) for
anyone who connects, stdin, signals, terminals.

Output flows with back-pressure: a subscriber's queue is bounded, so a flooding process waits
for the slowest reader instead of filling memory.
"""

from __future__ import annotations

import asyncio
import codecs
import fcntl
import json
import os
import pty
import shutil
import signal
import struct
import termios
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from oom import COMMANDS, scored

from agent.files import USERS, FileError

HISTORY_BYTES = 4 << 20  # output kept per process for late readers
QUEUE_EVENTS = 64
READ_CHUNK = 64 << 10
KILL_GRACE = 2.0
BASE_ENV = {
    "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
}
# The sandbox's own environment variables when it came from the warm pool (a cold sandbox has
# them in the jail's environment already): written once by the front end before it is handed out.
SANDBOX_ENVS = os.path.join(os.environ.get("INTERPRETER_RUN_DIR", "/run/sandbox"), "envs.json")


def sandbox_envs() -> dict[str, str]:
    try:
        with open(SANDBOX_ENVS) as file:
            return {str(k): str(v) for k, v in json.load(file).items()}
    except FileNotFoundError:
        return {}


@dataclass
class Process:
    pid: int
    cmd: str
    tag: str | None
    user: str
    proc: asyncio.subprocess.Process
    pty_fd: int | None
    args: list[str] | None = None  # set: `cmd` was executed directly with these arguments
    envs: dict[str, str] = field(default_factory=dict)
    cwd: str = ""
    started_at: float = field(default_factory=time.time)
    exit_code: int | None = None
    cancelled: bool = False
    timed_out: bool = False
    history: deque[dict[str, Any]] = field(default_factory=deque)
    history_bytes: int = 0
    dropped: int = 0
    subscribers: list[asyncio.Queue[dict[str, Any]]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def status(self) -> str:
        if self.exit_code is None:
            return "running"
        if self.cancelled or self.timed_out:
            return "cancelled"
        return "completed" if self.exit_code == 0 else "failed"

    def info(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "cmd": self.cmd,
            "tag": self.tag,
            "user": self.user,
            "status": self.status,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "pty": self.pty_fd is not None,
            "args": self.args,
            "envs": self.envs,
            "cwd": self.cwd,
        }

    async def publish(self, event: dict[str, Any]) -> None:
        size = len(event.get("data", ""))
        self.history.append(event)
        self.history_bytes += size
        while self.history_bytes > HISTORY_BYTES and len(self.history) > 1:
            old = self.history.popleft()
            self.history_bytes -= len(old.get("data", ""))
            self.dropped += 1
        for queue in list(self.subscribers):
            await queue.put(event)  # back-pressure: waits for a slow reader

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_EVENTS)
        self.subscribers.append(queue)
        return queue


class Processes:
    def __init__(self) -> None:
        self.table: dict[int, Process] = {}

    def get(self, pid: int) -> Process:
        try:
            return self.table[pid]
        except KeyError:
            raise FileError(404, "ProcessNotFoundError", f"no process with pid {pid}") from None

    async def start(self, spec: dict[str, Any]) -> Process:
        cmd = spec.get("cmd")
        if not isinstance(cmd, str) or not cmd:
            raise FileError(400, "InvalidRequestError", "cmd must be a non-empty string")
        user = str(spec.get("user") or "user")
        if user not in USERS:
            raise FileError(400, "InvalidRequestError", f"unknown user {user!r}")
        uid = USERS[user]
        home = "/root" if uid == 0 else "/home/user"
        cwd = str(spec.get("cwd") or home)
        if not os.path.isdir(cwd):
            raise FileError(400, "InvalidRequestError", f"cwd {cwd!r} is not a directory")
        envs = spec.get("envs") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in envs.items()):
            raise FileError(400, "InvalidRequestError", "envs must map strings to strings")
        args = spec.get("args")
        if args is not None and not (
            isinstance(args, list) and all(isinstance(a, str) for a in args)
        ):
            raise FileError(400, "InvalidRequestError", "args must be a list of strings")
        env = {**os.environ, **sandbox_envs(), **BASE_ENV, "HOME": home, "USER": user, **envs}
        size = spec.get("pty")
        pty_fd = None
        if size:
            pty_fd, tty = pty.openpty()
            _resize(pty_fd, int(size.get("cols", 80)), int(size.get("rows", 24)))
            stdio: dict[str, Any] = {"stdin": tty, "stdout": tty, "stderr": tty}
            env.setdefault("TERM", "xterm-256color")
        else:
            stdin = asyncio.subprocess.PIPE if spec.get("stdin") else asyncio.subprocess.DEVNULL
            stdio = {"stdin": stdin, "stdout": asyncio.subprocess.PIPE,
                     "stderr": asyncio.subprocess.PIPE}  # fmt: skip
        if args is not None:  # an executable and its arguments, no shell in between
            # Found first: the OOM shim below would otherwise turn "no such file" into exit 127.
            if shutil.which(cmd, path=env.get("PATH")) is None:
                raise FileError(400, "InvalidRequestError", f"cannot start {cmd!r}: not found")
            argv = [cmd, *args]
        elif size and cmd == "bash":
            argv = ["/bin/bash", "-l", "-i"]
        else:
            argv = ["/bin/bash", "-c", cmd]
        if size:
            # setsid -c: a new session whose controlling terminal is the pty (job control).
            # Not already a group leader, so setsid does not fork: the pid stays the group id.
            argv = ["/usr/bin/setsid", "-c", *argv]
        user_ids: dict[str, Any] = (
            {} if uid == 0 else {"user": uid, "group": uid, "extra_groups": []}
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *scored(argv, COMMANDS), cwd=cwd, env=env, start_new_session=not size,
                **(stdio | user_ids),
            )  # fmt: skip
        except OSError as exc:
            if pty_fd is not None:
                os.close(pty_fd)
                os.close(stdio["stdout"])
            raise FileError(
                400, "InvalidRequestError", f"cannot start {cmd!r}: {exc.strerror}"
            ) from exc
        if pty_fd is not None:
            os.close(stdio["stdout"])
        tag = spec.get("tag") if isinstance(spec.get("tag"), str) else None
        process = Process(proc.pid, cmd, tag, user, proc, pty_fd, args, dict(envs), cwd)
        self.table[proc.pid] = process
        asyncio.create_task(self._pump(process, spec.get("timeout")))
        return process

    async def _pump(self, process: Process, timeout: Any) -> None:
        readers = []
        if process.pty_fd is not None:
            readers.append(self._read_fd(process, process.pty_fd, "stdout"))
        else:
            assert process.proc.stdout and process.proc.stderr
            readers.append(self._read_stream(process, process.proc.stdout, "stdout"))
            readers.append(self._read_stream(process, process.proc.stderr, "stderr"))
        waiter = asyncio.gather(*readers, process.proc.wait())
        try:
            if timeout:
                await asyncio.wait_for(asyncio.shield(waiter), float(timeout))
            else:
                await waiter
        except TimeoutError:
            process.timed_out = True
            await self.kill(process)
            await waiter
        process.exit_code = process.proc.returncode
        if process.pty_fd is not None:
            os.close(process.pty_fd)
        end: dict[str, Any] = {"type": "end", "exit_code": process.exit_code}
        if process.timed_out:
            end["error"] = f"timed out after {float(timeout):g} s: killed"
            end["timed_out"] = True
        await process.publish(end)
        process.done.set()

    async def _read_stream(self, process: Process, stream: Any, name: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await stream.read(READ_CHUNK):
            await process.publish({"type": name, "data": decoder.decode(chunk)})
        if tail := decoder.decode(b"", final=True):  # a sequence cut short: U+FFFD, as E2B's
            await process.publish({"type": name, "data": tail})

    async def _read_fd(self, process: Process, fd: int, name: str) -> None:
        loop = asyncio.get_running_loop()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                chunk = await loop.run_in_executor(None, os.read, fd, READ_CHUNK)
            except OSError:  # EIO: the terminal's other side closed
                chunk = b""
            if not chunk:
                if tail := decoder.decode(b"", final=True):
                    await process.publish({"type": name, "data": tail})
                return
            await process.publish({"type": name, "data": decoder.decode(chunk)})

    async def kill(self, process: Process, signum: int = signal.SIGTERM) -> None:
        """Signal the whole process group; SIGTERM escalates to SIGKILL after a grace period."""
        if process.exit_code is not None:
            return
        process.cancelled = not process.timed_out
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        if signum == signal.SIGTERM:
            try:
                await asyncio.wait_for(process.proc.wait(), KILL_GRACE)
            except TimeoutError:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    async def write_stdin(self, process: Process, data: bytes) -> None:
        if process.pty_fd is not None:
            os.write(process.pty_fd, data)
            return
        if process.proc.stdin is None or process.proc.stdin.is_closing():
            raise FileError(400, "InvalidRequestError", "the process's stdin is not open")
        process.proc.stdin.write(data)
        await process.proc.stdin.drain()

    def close_stdin(self, process: Process) -> None:
        if process.pty_fd is not None:
            os.write(process.pty_fd, b"\x04")  # ^D on a terminal
        elif process.proc.stdin is not None:
            process.proc.stdin.close()

    def resize(self, process: Process, cols: int, rows: int) -> None:
        if process.pty_fd is None:
            raise FileError(400, "InvalidRequestError", "the process has no terminal")
        _resize(process.pty_fd, cols, rows)


def _resize(fd: int, cols: int, rows: int) -> None:
    if not (0 < cols <= 1000 and 0 < rows <= 1000):
        raise FileError(400, "InvalidRequestError", "cols and rows must be within 1..1000")
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
