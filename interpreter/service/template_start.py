"""How a template's sandbox starts: its start command in the background, then its ready command
until it exits 0. Run when a template's snapshot is taken (the build's last phase: the
snapshot keeps the start command's processes running) and by every boot that is not a restore
of that snapshot (a cold boot, a boot on kept files).

E2B's semantics: the start command runs as the template's user in its workdir with its
variables, through ``bash -c``, and keeps running; the ready command is run the same way every
second until it exits 0 (E2B's ``wait_for_port``, ``wait_for_url``... are such commands); a
start command without one is ready after ``sleep 20`` (E2B's default). A start command that
fails (exits non-zero) before the sandbox is ready fails the start with its output, as does a
ready command that does not succeed within the build's ready timeout (default 10 minutes, as
E2B's); one that exits 0 counts as ready, as in E2B.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator, Callable

from interpreter.core.errors import SandboxStartError
from interpreter.core.protocol import (
    CommandSpec,
    ProcessEnd,
    ProcessEvent,
    ProcessOutput,
    User,
)
from interpreter.core.templates import DEFAULT_READY_CMD, READY_INTERVAL, StartSpec
from interpreter.service.commands import SandboxCommands

Log = Callable[[str, str], None]  # (level, message)
TAIL = 40  # lines of a failed command's output in its error


def as_user(user: str, command: str) -> tuple[User, str]:
    """The agent's user and the command line that runs ``command`` as ``user``: the agent
    knows `user` and root; anyone else (a Dockerfile's USER) is reached by root's runuser."""
    if user == "user":
        return "user", command
    if user == "root":
        return "root", command
    if user.isdigit():
        ids = f"--reuid={user} --regid={user} --clear-groups"
        return "root", f"setpriv {ids} bash -c {shlex.quote(command)}"
    return "root", f"runuser -u {shlex.quote(user)} -- bash -c {shlex.quote(command)}"


class Output:
    """A command's output as log lines (chunks are split on newlines; the last lines kept)."""

    def __init__(self, log: Log | None) -> None:
        self.log = log
        self.tail: list[str] = []
        self._partial = {"stdout": "", "stderr": ""}

    def add(self, stream: str, data: str) -> None:
        *lines, self._partial[stream] = (self._partial[stream] + data).split("\n")
        for line in lines:
            self._line(stream, line)

    def flush(self) -> None:
        for stream, rest in self._partial.items():
            if rest:
                self._line(stream, rest)
            self._partial[stream] = ""

    def _line(self, stream: str, line: str) -> None:
        self.tail = (self.tail + [line])[-TAIL:]
        if self.log is not None:
            self.log("info" if stream == "stdout" else "warn", line[:4096])


async def run(commands: SandboxCommands, spec: CommandSpec, output: Output) -> ProcessEnd:
    """Run a command to its end, its output into ``output``."""
    events = await commands.start(spec)
    return await _drain(events, output)


async def _drain(events: AsyncIterator[ProcessEvent], output: Output) -> ProcessEnd:
    end: ProcessEnd | None = None
    async for event in events:
        if isinstance(event, ProcessOutput):
            output.add(event.type, event.data)
        elif isinstance(event, ProcessEnd):
            end = event
    output.flush()
    if end is None:
        raise SandboxStartError("the sandbox's agent stream ended before the command did")
    return end


async def start(commands: SandboxCommands, spec: StartSpec, log: Log | None = None) -> None:
    """Start the template's start command and wait until its ready command succeeds."""
    if not spec.start_cmd and not spec.ready_cmd:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + spec.ready_timeout
    started: asyncio.Task[ProcessEnd] | None = None
    start_output = Output(log)
    if spec.start_cmd:
        if log:
            log("info", f"start command: {spec.start_cmd}")
        user, cmd = as_user(spec.user, spec.start_cmd)
        events = await commands.start(
            CommandSpec(cmd=cmd, user=user, cwd=spec.workdir, envs=spec.envs, tag="start")
        )
        started = asyncio.create_task(_drain(events, start_output))
    try:
        if log and spec.ready_cmd:
            log("info", f"waiting for the ready command: {spec.ready_cmd}")
        while True:
            ready = await _ready(commands, spec)
            if started is not None and started.done():
                end = started.result()
                if end.exit_code == 0:
                    break
                raise SandboxStartError(
                    f"the start command ended (exit code {end.exit_code}) before the sandbox "
                    "was ready; its output:\n" + "\n".join(start_output.tail)
                )
            if ready:
                break
            if loop.time() >= deadline:
                raise SandboxStartError(
                    f"the ready command did not succeed within {spec.ready_timeout} s"
                    + (":\n" + "\n".join(start_output.tail) if start_output.tail else "")
                )
            await asyncio.sleep(READY_INTERVAL)
    finally:
        if started is not None:
            started.cancel()  # stops reading only: the process keeps running
            with contextlib.suppress(BaseException):
                await started
    if log:
        log("info", "the sandbox is ready")


async def _ready(commands: SandboxCommands, spec: StartSpec) -> bool:
    user, cmd = as_user(spec.user, spec.ready_cmd or DEFAULT_READY_CMD)
    probe = CommandSpec(cmd=cmd, user=user, cwd=spec.workdir, envs=spec.envs, timeout=60)
    end = await run(commands, probe, Output(None))
    return end.exit_code == 0
