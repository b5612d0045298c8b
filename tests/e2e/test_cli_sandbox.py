"""`interpreter sandbox ...` through its real entry point against the real server: the verbs
as people and scripts (--json) use them, the shell on a real pseudo-terminal, bad input as one
line and a non-zero exit."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interpreter_sdk import NotFoundError, Sandbox
from tests.conftest import RUN_ID, Server, free_port

pytestmark = pytest.mark.timeout(300)
CLI = [sys.executable, "-m", "interpreter.cli"]
# A 1x1 PNG: an image result to save.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shared(server: Server) -> Iterator[str]:
    """One sandbox for the verbs that leave it as it was."""
    made = cli("sandbox", "create", "--metadata", f"test_run={RUN_ID}", "-m", "cli=shared",
               "--env", "GREETING=hello")  # fmt: skip
    assert made.returncode == 0, made.stderr
    sandbox_id = made.stdout.strip()
    yield sandbox_id
    try:
        Sandbox.connect(sandbox_id).kill()
    except NotFoundError:
        pass


def test_list_and_info(shared: str, server: Server) -> None:
    listed = cli("sandbox", "list", "--json", "-m", "cli=shared")
    assert [s["id"] for s in json.loads(listed.stdout)] == [shared], listed.stderr
    table = cli("sandbox", "list")
    assert shared in table.stdout and "cli=shared" in table.stdout
    info = json.loads(cli("sandbox", "info", shared, "--json").stdout)
    assert (info["id"], info["state"], info["metadata"]["cli"]) == (shared, "running", "shared")
    assert "running" in cli("sandbox", "info", shared).stdout
    local = cli("sandbox", "list", "--local", env={"INTERPRETER_HOME": str(server.home)})
    assert shared in local.stdout, local.stderr


def test_exec_streams_and_passes_the_exit_code(shared: str) -> None:
    run = cli("sandbox", "exec", shared, "--", "bash", "-c", 'echo "$GREETING"; echo e >&2; exit 3')
    assert (run.returncode, run.stdout, run.stderr) == (3, "hello\n", "e\n")
    as_json = cli("sandbox", "exec", shared, "--json", "--", "echo hi | tr a-z A-Z")
    assert json.loads(as_json.stdout)["stdout"] == "HI\n" and as_json.returncode == 0


def test_run_prints_results_and_saves_images(shared: str, tmp_path: Path) -> None:
    code = (
        "from IPython.display import Image, display\nimport base64\n"
        f"print('out')\ndisplay(Image(data=base64.b64decode('{PNG}')))\n6 * 7"
    )
    run = cli("sandbox", "run", shared, code, "--image-dir", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("out\n") and run.stdout.rstrip().endswith("42")
    saved = [Path(line.split("image saved:")[1].strip()) for line in run.stdout.splitlines()
             if "image saved:" in line]  # fmt: skip
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"\x89PNG")
    failed = cli("sandbox", "run", shared, "1/0")
    assert failed.returncode == 1 and "ZeroDivisionError" in failed.stderr
    as_json = json.loads(
        cli("sandbox", "run", shared, "--json", "-l", "bash", "echo $((2+3))").stdout
    )
    assert as_json["logs"]["stdout"] == ["5\n"]


def test_cp_both_ways(shared: str, tmp_path: Path) -> None:
    (tmp_path / "up" / "sub").mkdir(parents=True)
    (tmp_path / "up" / "a.txt").write_text("A")
    (tmp_path / "up" / "sub" / "b.bin").write_bytes(b"\x00\x01")
    assert cli("sandbox", "cp", str(tmp_path / "up"), f"{shared}:/tmp/cp").returncode == 0
    assert cli("sandbox", "exec", shared, "--", "cat /tmp/cp/a.txt").stdout == "A"
    down = cli("sandbox", "cp", f"{shared}:/tmp/cp", str(tmp_path / "down"))
    assert down.returncode == 0, down.stderr
    assert (tmp_path / "down" / "a.txt").read_text() == "A"
    assert (tmp_path / "down" / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    one = cli("sandbox", "cp", f"{shared}:/tmp/cp/a.txt", str(tmp_path))
    assert one.returncode == 0 and (tmp_path / "a.txt").read_text() == "A"


def _read_until(master: int, wanted: bytes, seen: bytearray, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while wanted not in seen:
        assert time.monotonic() < deadline, f"no {wanted!r} in {bytes(seen[-500:])!r}"
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            seen += os.read(master, 4096)


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_shell_on_a_pseudo_terminal(shared: str) -> None:
    pid, master = pty.fork()
    if pid == 0:  # the child: the CLI on the pseudo-terminal's other end, its controlling tty
        _set_size(0, 24, 80)
        os.execvpe(CLI[0], [*CLI, "sandbox", "shell", shared], os.environ)
    seen = bytearray()
    try:
        _read_until(master, b"$ ", seen)  # the sandbox's prompt: the shell reads
        os.write(master, b"stty size; echo $((6*7))-done\r")
        _read_until(master, b"42-done", seen)
        assert b"24 80" in seen
        _set_size(master, 40, 120)  # the kernel sends SIGWINCH to the CLI
        time.sleep(1)
        os.write(master, b"stty size\r")
        _read_until(master, b"40 120", seen)
        os.write(master, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(master)


def test_create_pause_resume_kill(server: Server) -> None:
    made = json.loads(cli("sandbox", "create", "--json", "-m", f"test_run={RUN_ID}",
                          "--timeout", "120").stdout)  # fmt: skip
    sandbox_id = made["id"]
    try:
        paused = cli("sandbox", "pause", sandbox_id, "--no-memory")
        assert paused.stdout.split() == [sandbox_id, "paused"], paused.stderr
        resumed = cli("sandbox", "resume", sandbox_id, "--json")
        assert json.loads(resumed.stdout)["state"] == "running", resumed.stderr
    finally:
        killed = cli("sandbox", "kill", sandbox_id)
    assert killed.stdout.split() == ["killed", sandbox_id], killed.stderr
    gone = cli("sandbox", "info", sandbox_id)
    assert gone.returncode == 1
    assert gone.stderr.strip().endswith(f"sandbox {sandbox_id!r} not found"), gone.stderr


def test_bad_input_is_one_line_and_a_non_zero_exit(server: Server) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    for args, env, message in [
        (["sandbox", "info", "nosuchsandbox"], {}, "not found"),
        (["sandbox", "list"], {"INTERPRETER_API_KEY": ""}, "no API key"),
        (["sandbox", "list"], {"INTERPRETER_API_URL": unreachable}, "cannot reach the service"),
        (["sandbox", "exec", "nosuchsandbox"], {}, "give the command after --"),
        (["sandbox", "create", "-m", "novalue"], {}, "is not KEY=VALUE"),
        (["sandbox", "cp", "a", "b"], {}, "ID:/path"),
    ]:
        run = cli(*args, env=env)
        assert run.returncode == 1, (args, run.stderr)
        assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
