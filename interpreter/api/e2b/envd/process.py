"""``process.Process``: envd's process service, translated onto ``SandboxCommands``."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from interpreter.api.e2b.envd import access, connect
from interpreter.api.e2b.envd.connect import ConnectError, Message, field
from interpreter.api.e2b.envd.messages import process_end, process_event, process_info
from interpreter.core.errors import ProcessNotFoundError
from interpreter.core.protocol import CommandSpec, ProcessEnd, ProcessInfo
from interpreter.service.commands import ProcessEvent, SandboxCommands

KEEPALIVE: Message = {"event": {"keepalive": {}}}
SIGNALS: dict[Any, Literal["KILL", "TERM"]] = {
    "SIGNAL_SIGKILL": "KILL",
    "SIGNAL_SIGTERM": "TERM",
    9: "KILL",
    15: "TERM",
}
MAX_INPUT_BYTES = 1 << 20
KILL_GRACE = 5.0  # seconds the sandbox may take to stop a process that reached its timeout


async def _commands(request: Request) -> SandboxCommands:
    sandbox_id = access.live_sandbox_id(request)
    access.check_token(request, sandbox_id)
    return await access.manager_of(request).commands(sandbox_id)


def _text_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConnectError("invalid_argument", f"{name} must be a list of strings")
    return value


def _text_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConnectError("invalid_argument", f"{name} must map strings to strings")
    return value


def _size(pty: Any) -> dict[str, int]:
    size = field(pty, "size") if isinstance(pty, dict) else None
    size = size if isinstance(size, dict) else {}
    cols, rows = size.get("cols", 80), size.get("rows", 24)
    if not all(isinstance(v, int) and 0 < v <= 1000 for v in (cols, rows)):
        raise ConnectError("invalid_argument", "pty size: cols and rows must be within 1..1000")
    return {"cols": cols, "rows": rows}


async def _pid(commands: SandboxCommands, message: Message) -> int:
    """The pid a ``ProcessSelector`` (``process`` field) names: by pid or by tag."""
    selector = field(message, "process")
    if not isinstance(selector, dict):
        raise ConnectError("invalid_argument", "process (a selector by pid or tag) is required")
    pid, tag = field(selector, "pid"), field(selector, "tag")
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
        return pid
    if isinstance(tag, str):
        for process in await commands.list():
            if process.tag == tag and process.status == "running":
                return process.pid
        raise ConnectError("not_found", f"process with tag {tag!r} not found")
    raise ConnectError("invalid_argument", "process selector needs a pid or a tag")


async def _events(events: AsyncIterator[ProcessEvent], pty: bool) -> AsyncIterator[Message]:
    """Service events -> ``ProcessEvent``s (start first, as the SDKs require)."""
    async for event in events:
        if isinstance(event, ProcessEnd):
            if event.timed_out:
                raise ConnectError("deadline_exceeded", "the process reached its timeout: killed")
            yield process_end(event)
            return
        if (message := process_event(event, pty)) is not None:
            yield message


async def start(request: Request) -> Response:
    try:
        message = await connect.single_stream_request(request)
        commands = await _commands(request)
        user = access.user_of(request)
        timeout = connect.timeout_of(request)
        process = field(message, "process")
        if not isinstance(process, dict) or not isinstance(process.get("cmd"), str):
            raise ConnectError("invalid_argument", "process.cmd is required")
        fields: dict[str, Any] = {
            "cmd": process["cmd"],
            "args": _text_list(process.get("args"), "process.args"),
            "envs": _text_map(process.get("envs"), "process.envs"),
            "user": user,
            "stdin": field(message, "stdin", True) is not False,  # absent: open (envd < 0.3)
        }
        if isinstance(process.get("cwd"), str) and process["cwd"]:
            fields["cwd"] = process["cwd"]
        if isinstance(field(message, "tag"), str):
            fields["tag"] = field(message, "tag")[:200]
        pty = field(message, "pty")
        if pty is not None:
            fields["pty"] = _size(pty)
        if timeout is not None:
            fields["timeout"] = timeout  # envd: the timeout is the process's lifetime
        events = await commands.start(CommandSpec.of(fields))
    except Exception as exc:  # noqa: BLE001 - typed into the end-of-stream message
        return connect.stream_error(exc)
    # The sandbox ends the process at its timeout and then reports it (so it is gone when the
    # client hears deadline_exceeded); the stream's own deadline is only a backstop.
    deadline = time.monotonic() + timeout + KILL_GRACE if timeout is not None else None
    return connect.server_stream(
        _events(events, pty is not None), KEEPALIVE, connect.keepalive_of(request), deadline
    )


async def connect_process(request: Request) -> Response:
    try:
        message = await connect.single_stream_request(request)
        commands = await _commands(request)
        pid = await _pid(commands, message)
        info = await _running(commands, pid)
        events = await commands.follow(pid, replay=False)
        timeout = connect.timeout_of(request)
    except Exception as exc:  # noqa: BLE001
        return connect.stream_error(exc)
    deadline = time.monotonic() + timeout if timeout is not None else None
    return connect.server_stream(
        _events(events, info.pty), KEEPALIVE, connect.keepalive_of(request), deadline
    )


async def list_processes(request: Request, message: Message) -> Message:
    commands = await _commands(request)
    running = [p for p in await commands.list() if p.status == "running"]
    return {"processes": [process_info(p) for p in running]}


async def send_signal(request: Request, message: Message) -> Message:
    commands = await _commands(request)
    pid = await _pid(commands, message)
    raw = field(message, "signal")
    name = SIGNALS.get(raw) if isinstance(raw, str | int) else None
    if name is None:
        raise ConnectError("invalid_argument", "signal must be SIGNAL_SIGKILL or SIGNAL_SIGTERM")
    await _running(commands, pid)
    await commands.kill(pid, name)
    return {}


async def _running(commands: SandboxCommands, pid: int) -> ProcessInfo:
    """envd forgets a process when it ends: acting on one that ended is not_found."""
    try:
        info = await commands.info(pid)
    except ProcessNotFoundError:
        raise ConnectError("not_found", f"process with pid {pid} not found") from None
    if info.status != "running":
        raise ConnectError("not_found", f"process with pid {pid} not found")
    return info


def _input_bytes(value: Any) -> bytes:
    data = field(value, "stdin") if isinstance(value, dict) else None
    if data is None and isinstance(value, dict):
        data = field(value, "pty")
    if data is None:
        return b""
    if not isinstance(data, str) or len(data) > MAX_INPUT_BYTES * 4 // 3 + 4:
        raise ConnectError("invalid_argument", "input must be base64 bytes (at most 1 MiB)")
    standard = (data + "=" * (-len(data) % 4)).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        raise ConnectError("invalid_argument", "input is not valid base64") from None


async def send_input(request: Request, message: Message) -> Message:
    commands = await _commands(request)
    pid = await _pid(commands, message)
    await _running(commands, pid)
    data = _input_bytes(field(message, "input"))
    if data:
        await commands.send_stdin(pid, data)
    return {}


async def close_stdin(request: Request, message: Message) -> Message:
    commands = await _commands(request)
    pid = await _pid(commands, message)
    await _running(commands, pid)
    await commands.close_stdin(pid)
    return {}


async def update(request: Request, message: Message) -> Message:
    commands = await _commands(request)
    pid = await _pid(commands, message)
    await _running(commands, pid)
    pty = field(message, "pty")
    if pty is not None:
        size = _size(pty)
        await commands.resize(pid, size["cols"], size["rows"])
    return {}


async def stream_input(request: Request) -> Response:
    """Client stream: ``start`` (which process), then ``data`` (stdin or pty), ``keepalive``."""
    try:
        commands = await _commands(request)
        pid: int | None = None
        async for message in connect.stream_requests(request):
            if (started := field(message, "start")) is not None:
                pid = await _pid(commands, started if isinstance(started, dict) else {})
                await _running(commands, pid)
            elif (data := field(message, "data")) is not None:
                if pid is None:
                    raise ConnectError("failed_precondition", "send a start message first")
                chunk = _input_bytes(field(data, "input") if isinstance(data, dict) else None)
                if chunk:
                    await commands.send_stdin(pid, chunk)
    except Exception as exc:  # noqa: BLE001
        return connect.stream_error(exc)

    async def body() -> AsyncIterator[bytes]:
        yield connect.envelope(0, {})
        yield connect.end_stream()

    return connect.ConnectStreamResponse(body())


UNARY = {
    "List": list_processes,
    "SendSignal": send_signal,
    "SendInput": send_input,
    "CloseStdin": close_stdin,
    "Update": update,
}
STREAMS = {"Start": start, "Connect": connect_process, "StreamInput": stream_input}
