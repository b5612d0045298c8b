"""`interpreter sandbox shell ID`: bash on a terminal in the sandbox, driven from this one.

This terminal goes raw (every key, ^C and ^D too, goes to the sandbox's shell, which echoes);
the sandbox's output is written as it comes; a resize of this terminal (SIGWINCH) resizes the
sandbox's; the command exits with the shell's exit code. The main thread follows the output;
a second thread forwards stdin and resizes, woken through a pipe by the signal handler (a
handler must not make HTTP calls itself: it interrupts the main thread mid-call).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from types import FrameType

from interpreter_sdk import CommandHandle, Sandbox, SandboxError

READ_CHUNK = 4096


def terminal_size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 80, 24
    return size.columns, size.lines


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def interactive_shell(sandbox: Sandbox, user: str = "user") -> int:
    """Run the shell until it exits; its exit code."""
    stdin = sys.stdin.fileno()
    cols, rows = terminal_size(stdin)
    handle = sandbox.pty.create(cols=cols, rows=rows, user="root" if user == "root" else "user")
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)

    def on_resize(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(wake_write, b"r")

    previous = signal.signal(signal.SIGWINCH, on_resize)
    forwarder = threading.Thread(
        target=forward, args=(handle, stdin, wake_read), daemon=True, name="shell-stdin"
    )
    try:
        with raw_terminal(stdin):
            forwarder.start()
            result = handle.wait(on_stdout=write, on_stderr=write, check=False)
    finally:
        signal.signal(signal.SIGWINCH, previous)
        os.write(wake_write, b"q")  # the forwarder stops
        forwarder.join(timeout=2)
        os.close(wake_read)
        os.close(wake_write)
    return result.exit_code


def write(data: str) -> None:
    sys.stdout.write(data)
    sys.stdout.flush()


def forward(handle: CommandHandle, stdin: int, wake: int) -> None:
    """Keys to the shell, this terminal's size to its terminal, until told to stop (or the
    shell is gone: its calls fail, the main thread sees its end)."""
    watched = [stdin, wake]
    try:
        while True:
            ready, _, _ = select.select(watched, [], [])
            if wake in ready:
                reasons = os.read(wake, READ_CHUNK)
                if b"q" in reasons:
                    return
                handle.resize(*terminal_size(stdin))
            if stdin in ready:
                data = os.read(stdin, READ_CHUNK)
                if not data:  # end of input (not a terminal): the shell reads its end
                    handle.close_stdin()
                    watched = [wake]
                    continue
                handle.send_stdin(data)
    except (SandboxError, OSError):
        return
