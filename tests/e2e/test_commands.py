"""Commands inside sandboxes (issue #4): foreground, background, stdin, kill, PTY, floods."""

from __future__ import annotations

import time

import pytest

from interpreter_sdk import CommandExitError, NotFoundError, Sandbox

from ..conftest import Server


def test_foreground_streams_and_returns_the_exit_code(sandbox: Sandbox) -> None:
    seen: list[tuple[float, str]] = []
    result = sandbox.commands.run(
        "echo one; sleep 1.5; echo two; echo err >&2",
        on_stdout=lambda data: seen.append((time.monotonic(), data)),
    )
    done = time.monotonic()
    assert (result.stdout, result.stderr, result.exit_code) == ("one\ntwo\n", "err\n", 0)
    assert done - seen[0][0] > 1.0, "output must stream while the command runs"


def test_non_zero_exit_raises_with_both_outputs_unless_told_not_to(sandbox: Sandbox) -> None:
    with pytest.raises(CommandExitError) as caught:
        sandbox.commands.run("echo out; echo bad >&2; exit 3")
    assert (caught.value.exit_code, caught.value.stdout, caught.value.stderr) == (
        3,
        "out\n",
        "bad\n",
    )
    assert sandbox.commands.run("exit 4", check=False).exit_code == 4


def test_env_cwd_and_user(sandbox: Sandbox) -> None:
    result = sandbox.commands.run(
        'echo "$GREETING $(pwd) $(id -un)"', envs={"GREETING": "hi"}, cwd="/tmp"
    )
    assert result.stdout == "hi /tmp user\n"
    assert sandbox.commands.run("id -u", user="root").stdout == "0\n"
    assert sandbox.commands.run("echo $HOME").stdout == "/home/user\n"


def test_timeout_kills_the_process_tree(sandbox: Sandbox) -> None:
    started = time.monotonic()
    result = sandbox.commands.run("sleep 100 & sleep 100; wait", timeout=1, check=False)
    assert time.monotonic() - started < 10
    assert result.exit_code != 0 and "timed out" in (result.error or "")
    listing = sandbox.commands.run("cat /proc/[0-9]*/cmdline | tr '\\0' ' '", check=False)
    assert "sleep 100" not in listing.stdout


def test_background_outlives_its_request_and_can_be_reconnected(sandbox: Sandbox) -> None:
    handle = sandbox.commands.start("for i in 1 2 3; do echo $i; sleep 0.5; done", tag="count")
    listed = {c.pid: c for c in sandbox.commands.list()}
    assert listed[handle.pid].tag == "count" and listed[handle.pid].status == "running"
    again = sandbox.commands.connect(handle.pid)
    result = again.wait()
    assert result.stdout == "1\n2\n3\n" and result.exit_code == 0
    assert again.info().status == "completed"
    # Its output stays available after it ended.
    assert sandbox.commands.connect(handle.pid).wait().stdout == "1\n2\n3\n"


def test_stdin(sandbox: Sandbox) -> None:
    handle = sandbox.commands.start("tr a-z A-Z", stdin=True)
    handle.send_stdin("hello ")
    handle.send_stdin(b"stdin")
    handle.close_stdin()
    assert handle.wait().stdout == "HELLO STDIN"


def test_kill(sandbox: Sandbox) -> None:
    handle = sandbox.commands.start("trap '' TERM; sleep 100")  # ignores TERM: needs KILL
    started = time.monotonic()
    handle.kill()
    result = handle.wait(check=False)
    assert result.exit_code != 0 and time.monotonic() - started < 10
    assert handle.info().status == "cancelled"


def test_pty_echo_and_resize(sandbox: Sandbox) -> None:
    terminal = sandbox.pty.create(cols=100, rows=30)
    terminal.send_stdin("stty size; stty size > /tmp/first-size\n")
    # Resize only once the shell has answered at the first size (else it may read the second).
    deadline = time.monotonic() + 30
    while not (sandbox.files.exists("/tmp/first-size") and sandbox.files.read("/tmp/first-size")):
        assert time.monotonic() < deadline, "the first stty size never ran"
        time.sleep(0.05)
    terminal.resize(cols=120, rows=40)
    terminal.send_stdin("stty size; tty; exit\n")
    output = terminal.wait(check=False).stdout
    assert "30 100" in output and "40 120" in output and "/dev/pts/" in output
    assert "no job control" not in output


def test_unknown_pid_is_404(sandbox: Sandbox) -> None:
    with pytest.raises(NotFoundError):
        sandbox.commands.connect(999999)


def test_a_stdout_flood_streams_with_bounded_memory(server: Server, sandbox: Sandbox) -> None:
    received = 0

    def count(data: str) -> None:
        nonlocal received
        received += len(data)

    result = sandbox.commands.run("yes | head -c 2G", on_stdout=count, timeout=300)
    assert result.exit_code == 0
    assert received == 2 << 30
    peak = next(
        int(line.split()[1])
        for line in open(f"/proc/{server.process.pid}/status")
        if line.startswith("VmHWM:")
    )
    assert peak < 400 * 1024
